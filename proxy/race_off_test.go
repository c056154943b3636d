//go:build !race

package proxy

// raceEnabled says the tests run under the race detector, whose
// instrumentation changes what allocation and time measurements mean.
const raceEnabled = false
