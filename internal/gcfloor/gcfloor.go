// Package gcfloor keeps the garbage collector's heap goal at or above a
// floor, so a server whose live heap is small does not collect many times
// a second.
//
// With GOGC=100 the runtime collects each time the heap doubles. handoff's
// live heap at load is a few MiB while an MCP call allocates about 200 KB
// (most of it the MCP SDK's JSON decoder, 32 KiB a value), so without a
// floor the server ran 40-odd collections a second under MCP load and spent
// a fifth of its CPU in them. Go has no setting for a minimum heap goal
// (golang/go#23044); this package gets one by raising GOGC after each
// collection while the live heap is below the floor, and lowering it back
// to the base as the live heap grows, so large heaps (thousands of
// waiters) keep the ordinary proportional goal:
//
//	goal = max(live × (1 + base/100), floor)
//
// The cost is memory: up to the floor of garbage between collections.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Floor is a running floor; Stop ends it.
type Floor struct {
	floor   uint64
	base    int
	stopped atomic.Bool
	// adjusted, when set (tests), is called after each adjustment with
	// the percent set.
	adjusted func(int)
}

// sentinel is allocated afresh each cycle; its cleanup runs after the
// collection that finds it unreachable. It holds a pointer so the runtime
// does not place it in a tiny block shared with other objects.
type sentinel struct {
	_ *byte
	_ [8]byte
}

// Start keeps the heap goal at or above floor bytes, with base as the
// GOGC percent once the live heap is large (pass 100, the runtime's
// default, unless the operator set another). It takes over GOGC: do not
// start it when the operator set GOGC.
func Start(floor uint64, base int) *Floor {
	f := &Floor{floor: floor, base: base}
	f.adjust()
	return f
}

// Stop ends the floor and restores the base percent.
func (f *Floor) Stop() {
	if f.stopped.CompareAndSwap(false, true) {
		debug.SetGCPercent(f.base)
	}
}

// adjust sets GOGC for the live heap the last collection left, then arms
// itself for the next collection.
func (f *Floor) adjust() {
	if f.stopped.Load() {
		return
	}
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(samples)
	p := Percent(samples[0].Value.Uint64(), f.floor, f.base)
	debug.SetGCPercent(p)
	if f.adjusted != nil {
		f.adjusted(p)
	}
	runtime.AddCleanup(&sentinel{}, func(f *Floor) { f.adjust() }, f)
}

// heapMinimum is the runtime's smallest heap goal at GOGC=100; it scales
// with GOGC (4 MiB × GOGC/100), so a percent above floor/heapMinimum×100
// would put the goal past the floor while the live heap is tiny.
const heapMinimum = 4 << 20

// Percent is the GOGC percent whose goal, live × (1 + p/100), reaches
// floor, and never less than base. While the live heap is tiny the
// runtime's minimum goal, not the live heap, decides, and the percent is
// the one that makes that minimum the floor.
func Percent(live, floor uint64, base int) int {
	most := floor * 100 / heapMinimum
	p := most
	if live > 0 && live < floor {
		p = min((floor-live)*100/live, most)
	} else if live >= floor {
		p = 0
	}
	return max(int(p), base)
}
