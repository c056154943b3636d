// Command eventrelay is a measuring stick, not part of s3cache: the
// least work a Go relay can do per GET. One goroutine drives an epoll
// instance of its own (waited on through the runtime's poller, as
// s3cache's event loop is), each client connection has one keep-alive
// connection to the backend, and bytes pass through unchanged: no
// parsing beyond finding the end of a request's head, no signing, no
// headers copied. Its CPU per relayed GET, next to the
// backend's and nginx's proxy_pass in the same sitting, is the floor
// s3cache's relayed misses are measured against in docs/performance.md.
//
// Requests must be GETs without a body, signed for the backend's host
// (send them with a Host header naming the backend). It serves until
// killed.
//
//	GOMAXPROCS=1 taskset -c 1 go run ./bench/eventrelay -listen 127.0.0.1:9100 -backend 127.0.0.1:7070
package main

import (
	"bytes"
	"flag"
	"log"
	"net"
	"os"
	"syscall"
	"time"
)

// pair is a client connection and its backend connection.
type pair struct {
	client, backend int
	head            []byte // a request head not yet whole
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9100", "address to serve")
	backend := flag.String("backend", "127.0.0.1:7070", "backend address (IPv4)")
	flag.Parse()
	baddr, err := net.ResolveTCPAddr("tcp4", *backend)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	syscall.SetNonblock(ep, true)
	epf := os.NewFile(uintptr(ep), "epoll")
	rc, err := epf.SyscallConn()
	if err != nil {
		log.Fatal(err)
	}
	accepted := make(chan int, 1024)
	go accept(ln, accepted)
	sa := &syscall.SockaddrInet4{Port: baddr.Port}
	copy(sa.Addr[:], baddr.IP.To4())

	pairs := map[int32]*pair{}
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	var deadline time.Time
	for {
		// The deadline bounds the wait, so that new connections are
		// taken within 10 ms even while none is busy.
		if now := time.Now(); now.After(deadline) {
			deadline = now.Add(10 * time.Millisecond)
			epf.SetReadDeadline(deadline)
		}
		for more := true; more; {
			select {
			case cfd := <-accepted:
				p, err := dialPair(cfd, sa)
				if err != nil {
					log.Fatal(err)
				}
				pairs[int32(p.client)], pairs[int32(p.backend)] = p, p
				for _, fd := range []int{p.client, p.backend} {
					syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
				}
			default:
				more = false
			}
		}
		var n int
		rc.Read(func(fd uintptr) bool {
			n, _ = syscall.EpollWait(int(fd), events, 0)
			return n > 0
		})
		for _, ev := range events[:max(n, 0)] {
			p := pairs[ev.Fd]
			if p == nil {
				continue
			}
			m, err := syscall.Read(int(ev.Fd), buf)
			if err == syscall.EAGAIN {
				continue
			}
			if m <= 0 {
				syscall.Close(p.client)
				syscall.Close(p.backend)
				delete(pairs, int32(p.client))
				delete(pairs, int32(p.backend))
				continue
			}
			if int(ev.Fd) == p.client {
				p.head = append(p.head, buf[:m]...)
				if bytes.Contains(p.head, []byte("\r\n\r\n")) {
					writeAll(p.backend, p.head)
					p.head = p.head[:0]
				}
				continue
			}
			writeAll(p.client, buf[:m])
		}
	}
}

// accept sends each accepted connection's descriptor to fds.
func accept(ln net.Listener, fds chan<- int) {
	var keep []*os.File // a File's finalizer would close its descriptor
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			log.Fatal(err)
		}
		keep = append(keep, f)
		fds <- int(f.Fd())
	}
}

// dialPair connects a backend connection for client descriptor cfd.
func dialPair(cfd int, sa *syscall.SockaddrInet4) (*pair, error) {
	bfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Connect(bfd, sa); err != nil {
		return nil, err
	}
	syscall.SetsockoptInt(bfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	syscall.SetNonblock(bfd, true)
	syscall.SetNonblock(cfd, true)
	return &pair{client: cfd, backend: bfd}, nil
}

// writeAll writes b to the non-blocking descriptor fd, trying again
// while the socket is full: answers here are small.
func writeAll(fd int, b []byte) {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			return
		}
		b = b[n:]
	}
}
