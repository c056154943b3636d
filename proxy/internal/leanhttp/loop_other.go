//go:build !linux

package leanhttp

import (
	"errors"
	"net"
)

// eventLoop is Linux's; elsewhere every connection has a goroutine.
type eventLoop struct{}

func newEventLoops(*Server, int) []*eventLoop { return nil }

func plainTCP(net.Conn) (*net.TCPConn, bool) { return nil, false }

func (l *eventLoop) add(*leanConn) bool { return false }
func (l *eventLoop) wake()              {}

func (c *leanConn) nbRead([]byte) (int, error) { return 0, errors.ErrUnsupported }

// loopWriter is the event loop's writer; elsewhere it holds nothing.
type loopWriter struct {
	c       *leanConn
	pending []byte
}

func (w *loopWriter) reset() {}
