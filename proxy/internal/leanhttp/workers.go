package leanhttp

import (
	"slices"
	"sync"
	"time"
)

// A connection an event loop cannot go on serving at once (a cache miss,
// an upload, an answer the socket did not take whole) goes to a goroutine
// of its own, and back to the loop when it waits for a request again. A
// new goroutine starts with a small stack that then grows, by copying it
// whole, to the depth a relayed request takes (the reverse proxy, the
// HTTP transport, the signer): a CPU profile of relayed 4 KiB GETs had 5%
// of the proxy's time in that copying (runtime.copystack). workers keeps
// the goroutines that finished, with their grown stacks, for the next
// connection instead, for a while.

const (
	// maxIdleWorkers bounds the goroutines kept waiting for a connection;
	// more than that at once exit when they are done.
	maxIdleWorkers = 64
	// workerIdleTimeout is how long a worker waits for a connection
	// before it exits: a burst of slow connections leaves no goroutines
	// behind for longer.
	workerIdleTimeout = 2 * time.Second
)

// workers runs the connections the event loops hand off. The zero value
// starts a new goroutine for each; newWorkers makes one whose goroutines
// wait for the next connection when done.
//
// The worker that waited least takes the next job, so that under a
// trickle of jobs the others time out instead of each being kept alive
// by its turn.
type workers struct {
	quit chan struct{} // closed by stop; nil in the zero value

	mu      sync.Mutex
	idle    []*worker // waiting, the most recent last
	stopped bool
}

// A worker is a goroutine of workers; jobs has room for the one job a
// waiting worker is given.
type worker struct{ jobs chan func() }

func newWorkers() *workers { return &workers{quit: make(chan struct{})} }

// serveRest serves the rest of c (leanConn.serveRest) on a waiting
// worker, or a new goroutine when none waits.
func (w *workers) serveRest(c *leanConn, keep bool) {
	w.run(func() { c.serveRest(keep) })
}

// run runs job on the worker that waited least, or a new goroutine when
// none waits.
func (w *workers) run(job func()) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		wk := w.idle[n-1]
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		wk.jobs <- job
		return
	}
	w.mu.Unlock()
	go w.work(job)
}

// work runs job, then the jobs it is given while it waits, until enough
// workers wait already, none came for workerIdleTimeout or stop was
// called.
func (w *workers) work(job func()) {
	me := &worker{jobs: make(chan func(), 1)}
	var idle *time.Timer
	for {
		job()
		w.mu.Lock()
		if w.quit == nil || w.stopped || len(w.idle) >= maxIdleWorkers {
			w.mu.Unlock()
			return
		}
		w.idle = append(w.idle, me)
		w.mu.Unlock()
		if idle == nil {
			idle = time.NewTimer(workerIdleTimeout)
		} else {
			idle.Reset(workerIdleTimeout)
		}
		select {
		case job = <-me.jobs:
			continue
		case <-idle.C:
		case <-w.quit:
		}
		w.mu.Lock()
		if i := slices.Index(w.idle, me); i >= 0 {
			w.idle = slices.Delete(w.idle, i, i+1)
			w.mu.Unlock()
			idle.Stop()
			return
		}
		w.mu.Unlock()
		job = <-me.jobs // taken off idle by run: its job is on the way
	}
}

// waiting returns the number of workers waiting for a job.
func (w *workers) waiting() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.idle)
}

// stop makes the waiting workers exit; a connection handed off after it
// gets a new goroutine.
func (w *workers) stop() {
	if w.quit == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped = true
		close(w.quit)
	}
}
