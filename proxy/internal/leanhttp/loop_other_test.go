//go:build !linux

package leanhttp

import "net"

func isLoopWriter(net.Conn) bool { return false }
