package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live, floor uint64
		base, want  int
	}{
		{live: 4 << 20, floor: 64 << 20, base: 100, want: 1500}, // 4 MiB × 16 = 64 MiB
		{live: 16 << 20, floor: 64 << 20, base: 100, want: 300},
		{live: 40 << 20, floor: 64 << 20, base: 100, want: 100}, // 60 % over: the base's goal is higher
		{live: 64 << 20, floor: 64 << 20, base: 100, want: 100},
		{live: 1 << 30, floor: 64 << 20, base: 50, want: 50},
		// A tiny live heap: the runtime's minimum goal (4 MiB × p/100) is the floor.
		{live: 0, floor: 64 << 20, base: 100, want: 1600},
		{live: 10, floor: 64 << 20, base: 100, want: 1600},
		{live: 0, floor: 2 << 20, base: 100, want: 100},
	} {
		if got := Percent(c.live, c.floor, c.base); got != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.live, c.floor, c.base, got, c.want)
		}
	}
}

var sink []byte

// cycles counts the collections while the test allocates total bytes of
// garbage in 32 KiB pieces (an MCP call's decoder buffers), the live heap
// staying small.
func cycles(total int) uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	for n := 0; n < total; n += 32 << 10 {
		sink = make([]byte, 32<<10)
	}
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// With a floor, garbage that made dozens of collections makes a few; the
// percent follows each collection; Stop gives the base back.
func TestFloorCutsCollections(t *testing.T) {
	const total = 512 << 20
	runtime.GC() // start from a collection: the goal is 2 × live
	without := cycles(total)

	adjusted := make(chan int, 1)
	f := &Floor{floor: 128 << 20, base: 100, adjusted: func(p int) {
		select {
		case adjusted <- p:
		default:
		}
	}}
	f.adjust()
	<-adjusted
	runtime.GC() // the cleanup of the first sentinel re-adjusts
	if p := <-adjusted; p <= 100 {
		t.Fatalf("after a collection with a small live heap the percent is %d", p)
	}
	with := cycles(total)
	f.Stop()
	t.Logf("collections for %d MiB of garbage: %d without a floor, %d with 128 MiB", total>>20, without, with)
	if without < 20 {
		t.Fatalf("without a floor only %d collections: the test does not measure anything", without)
	}
	if with > without/4 {
		t.Errorf("with the floor %d collections, without %d", with, without)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("after Stop GOGC is %d", p)
	}
}
