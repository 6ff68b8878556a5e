package bench

import (
	"fmt"
	"time"
)

// A timeline (send --timeline) counts a load's successes and errors by
// 100 ms step from its start, for the effect of a fault mid-load (a
// replica killed): when errors began and ended, and how long throughput
// took to come back.
//
// Recovery is the time from the first error to the start of the first
// whole second (a window of ten steps, starting at a step after the first
// error) that has no error and at least RecoveredShare of the pre-fault
// rate, the successes per second before the step of the first error.
type timeline struct {
	ok, errs    []int
	failed      int
	first, last time.Duration // the first and last error (failed > 0)
}

const (
	timelineStep = 100 * time.Millisecond
	// RecoveredShare is the share of the pre-fault rate a second must
	// reach, without errors, to count as recovered.
	RecoveredShare = 0.8
)

// RecoveryDefinition is the recovery's definition, as the output states it.
var RecoveryDefinition = fmt.Sprintf("from the first error to the start of the first whole second with no error and at least %.0f%% of the pre-fault successes per second", RecoveredShare*100)

// add records an outcome at offset at from the load's start.
func (tl *timeline) add(at time.Duration, failed bool) {
	i := int(at / timelineStep)
	counts := &tl.ok
	if failed {
		counts = &tl.errs
		if tl.failed == 0 || at < tl.first {
			tl.first = at
		}
		tl.last = max(tl.last, at)
		tl.failed++
	}
	for len(*counts) <= i {
		*counts = append(*counts, 0)
	}
	(*counts)[i]++
}

// merge adds another agent's timeline to tl.
func (tl *timeline) merge(o *timeline) {
	if o.failed > 0 {
		if tl.failed == 0 || o.first < tl.first {
			tl.first = o.first
		}
		tl.last = max(tl.last, o.last)
		tl.failed += o.failed
	}
	tl.ok = addCounts(tl.ok, o.ok)
	tl.errs = addCounts(tl.errs, o.errs)
}

func addCounts(a, b []int) []int {
	for len(a) < len(b) {
		a = append(a, 0)
	}
	for i, n := range b {
		a[i] += n
	}
	return a
}

// sum is counts[from:to], past the end counting zero.
func sum(counts []int, from, to int) int {
	n := 0
	for i := from; i < to && i < len(counts); i++ {
		n += counts[i]
	}
	return n
}

// report is the timeline's part of the result, for a load of duration d:
// successes and errors per whole second, the first and last error's
// offsets, the pre-fault rate and the recovery ("-" where there is none;
// recovery "none" when the load ended before it).
func (tl *timeline) report(d time.Duration) Result {
	steps := int(d / timelineStep)
	perStep := int(time.Second / timelineStep)
	var okPerS, errPerS []int
	for s := 0; s*perStep < steps; s++ {
		okPerS = append(okPerS, sum(tl.ok, s*perStep, min((s+1)*perStep, steps)))
		errPerS = append(errPerS, sum(tl.errs, s*perStep, min((s+1)*perStep, steps)))
	}
	res := Result{"ok_per_s": okPerS, "errors_per_s": errPerS, "first_error_s": "-", "last_error_s": "-",
		"prefault_per_s": "-", "recovery_s": "-", "recovery": RecoveryDefinition}
	if tl.failed == 0 {
		return res
	}
	res["first_error_s"], res["last_error_s"] = round(tl.first.Seconds()), round(tl.last.Seconds())
	faultStep := int(tl.first / timelineStep)
	if faultStep == 0 {
		return res // no time before the fault to compare with
	}
	pre := float64(sum(tl.ok, 0, faultStep)) / (float64(faultStep) * timelineStep.Seconds())
	res["prefault_per_s"] = round(pre)
	res["recovery_s"] = "none"
	for s := faultStep + 1; s+perStep <= steps; s++ {
		if sum(tl.errs, s, s+perStep) == 0 && float64(sum(tl.ok, s, s+perStep)) >= RecoveredShare*pre {
			res["recovery_s"] = round((time.Duration(s)*timelineStep - tl.first).Seconds())
			break
		}
	}
	return res
}
