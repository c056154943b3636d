package leanhttp

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestWorkers: a worker that finished waits for the next job and takes
// it (no new goroutine, so no stack to grow again); no more than
// maxIdleWorkers wait, and none longer than workerIdleTimeout; stop
// makes every waiting worker exit, and a job after it still runs.
// synctest.Test fails if a goroutine is left blocked when it ends.
func TestWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorkers()
		ran := 0
		w.run(func() { ran++ })
		synctest.Wait()
		if n := w.waiting(); n != 1 {
			t.Fatalf("after one job, %d workers wait, want 1", n)
		}
		w.run(func() { ran++ })
		synctest.Wait()
		if n := w.waiting(); n != 1 || ran != 2 {
			t.Fatalf("after a second job, %d workers wait and %d jobs ran, want 1 and 2 (the waiting worker took it)", n, ran)
		}

		// More jobs at once than may wait: each blocks until released.
		release := make(chan struct{})
		for range maxIdleWorkers + 10 {
			w.run(func() { <-release })
		}
		synctest.Wait()
		if n := w.waiting(); n != 0 {
			t.Fatalf("%d workers wait while every one has a job", n)
		}
		close(release)
		synctest.Wait()
		if n := w.waiting(); n != maxIdleWorkers {
			t.Fatalf("%d workers wait after %d jobs ended, want the bound %d", n, maxIdleWorkers+10, maxIdleWorkers)
		}

		time.Sleep(workerIdleTimeout - time.Millisecond) // the bubble's clock
		synctest.Wait()
		if n := w.waiting(); n != maxIdleWorkers {
			t.Fatalf("%d workers wait just before workerIdleTimeout, want %d", n, maxIdleWorkers)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if n := w.waiting(); n != 0 {
			t.Fatalf("%d workers still wait after workerIdleTimeout", n)
		}

		w.run(func() { ran++ })
		synctest.Wait()
		w.stop()
		synctest.Wait()
		if n := w.waiting(); n != 0 {
			t.Fatalf("%d workers still wait after stop", n)
		}
		w.run(func() { ran++ })
		synctest.Wait()
		if ran != 4 {
			t.Fatalf("%d jobs ran, want 4 (a job after stop runs too)", ran)
		}
	})
}

// TestWorkersTrickle: under jobs that come one at a time, often enough
// that ten workers taking them in turn would each get one within
// workerIdleTimeout, the one worker that keeps taking them stays and the
// others time out.
func TestWorkersTrickle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorkers()
		release := make(chan struct{})
		for range 10 {
			w.run(func() { <-release })
		}
		synctest.Wait()
		close(release)
		synctest.Wait()
		if n := w.waiting(); n != 10 {
			t.Fatalf("%d workers wait, want 10", n)
		}
		for range 4 * 16 {
			time.Sleep(workerIdleTimeout / 16)
			w.run(func() {})
			synctest.Wait()
		}
		if n := w.waiting(); n != 1 {
			t.Fatalf("after a trickle of jobs, %d workers wait, want 1", n)
		}
		w.stop()
	})
}

// TestWorkersZero: the zero value runs each job on a goroutine of its
// own, which ends with it.
func TestWorkersZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var w workers
		done := false
		w.run(func() { done = true })
		synctest.Wait()
		if !done || w.waiting() != 0 {
			t.Fatalf("zero workers: ran %v, %d waiting; want true, 0", done, w.waiting())
		}
		w.stop()
	})
}
