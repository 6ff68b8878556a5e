package bench

import (
	"reflect"
	"testing"
	"time"
)

// The timeline of a replica lost mid-load: 1,000 successes a second for
// 3 s, errors at 3.05 s and 3.4 s and nothing served until 3.5 s, half
// the rate for a second, then the full rate again.
func TestTimelineRecovery(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var tl timeline
	serve := func(from, to, perStep int) {
		for s := from; s < to; s++ {
			for range perStep {
				tl.add(ms(s*100+50), false)
			}
		}
	}
	serve(0, 30, 100)
	tl.add(ms(3400), true)
	tl.add(ms(3050), true)
	serve(35, 45, 50)
	serve(45, 60, 100)
	r := tl.report(6 * time.Second)
	want := Result{
		"ok_per_s": []int{1000, 1000, 1000, 250, 750, 1000}, "errors_per_s": []int{0, 0, 0, 2, 0, 0},
		"first_error_s": 3.05, "last_error_s": 3.4, "prefault_per_s": 1000.0,
		// From 3.05 s to 4.1 s, the start of the first second (4.1-5.1 s)
		// without errors and with 800 successes.
		"recovery_s": 1.05, "recovery": RecoveryDefinition,
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("report:\n%v\nwant\n%v", r, want)
	}

	// Cut short before it recovers: none.
	if r := tl.report(4 * time.Second); r["recovery_s"] != "none" {
		t.Fatalf("recovery within a load that ended at half the rate: %v", r["recovery_s"])
	}
	// The agents' timelines merge into the same figures.
	var a, b timeline
	a.add(ms(50), false)
	a.add(ms(1500), true)
	b.add(ms(150), false)
	b.add(ms(1200), true)
	b.add(ms(2500), false)
	a.merge(&b)
	if r := a.report(3 * time.Second); r["first_error_s"] != 1.2 || r["last_error_s"] != 1.5 ||
		!reflect.DeepEqual(r["ok_per_s"], []int{2, 0, 1}) || r["prefault_per_s"] != round(2/1.2) {
		t.Fatalf("merged: %v", r)
	}
	// Without errors, no fault to report.
	var clean timeline
	clean.add(ms(10), false)
	if r := clean.report(time.Second); r["first_error_s"] != "-" || r["recovery_s"] != "-" || !reflect.DeepEqual(r["errors_per_s"], []int{0}) {
		t.Fatalf("no errors: %v", r)
	}
}
