package producer

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wacard/wacard/internal/job"
)

// itemResult is one batch item after validation: a payload, or its errors.
type itemResult struct {
	p    job.Payload
	errs []FieldError
}

// validateItems checks every item exactly as POST /send/contact checks a body,
// after filling in the defaults, on all CPUs. Each error carries the item's
// index and, for CSV and NDJSON, its line.
func validateItems(in batchInput) []itemResult {
	res := make([]itemResult, len(in.items))
	parallel(len(in.items), func(memo *phoneMemo, i int) {
		it := in.items[i]
		errs := it.errs
		f := it.f
		if it.raw != nil {
			var fe *FieldError
			if f, fe = decodeItem(it.raw); fe != nil {
				errs = append(errs, *fe)
			}
		}
		var p job.Payload
		if len(errs) == 0 {
			p, errs = parseContactMemo(withDefaults(f, in.defaults), memo)
		}
		res[i] = itemResult{p: p, errs: locate(errs, i, it.line)}
	})
	return res
}

// locate marks errs as belonging to item i at line (0 = no line).
func locate(errs []FieldError, i, line int) []FieldError {
	if len(errs) == 0 {
		return nil
	}
	idx := i
	for k := range errs {
		errs[k].Index = &idx
		errs[k].Line = line
	}
	return errs
}

// parallel calls fn(memo, i) for every i in [0, n) on GOMAXPROCS goroutines,
// each with its own phone memo. Items are handed out in small blocks, so a
// slow stretch of items does not leave one goroutine working alone.
func parallel(n int, fn func(memo *phoneMemo, i int)) {
	const block = 64
	workers := min(runtime.GOMAXPROCS(0), (n+block-1)/block)
	if workers <= 1 {
		memo := newPhoneMemo()
		for i := range n {
			fn(memo, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			memo := newPhoneMemo()
			for {
				start := int(next.Add(block)) - block
				if start >= n {
					return
				}
				for i := start; i < min(start+block, n); i++ {
					fn(memo, i)
				}
			}
		})
	}
	wg.Wait()
}

// itemErrors is the validation error of a batch: every error of every item.
func itemErrors(errs []FieldError) *apiError {
	e := validationError(errs)
	e.Message = describeFieldError(errs[0])
	if len(errs) > 1 {
		e.Message += fmt.Sprintf(" (and %d more: see results.errors)", len(errs)-1)
	}
	return e
}

// describeFieldError names where a batch error is: "items[3] (line 5): phone: ...".
func describeFieldError(e FieldError) string {
	var b strings.Builder
	switch {
	case e.Index != nil && !strings.Contains(e.Field, "["):
		fmt.Fprintf(&b, "items[%d]", *e.Index)
		if e.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
		b.WriteString(": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(e.String())
	return b.String()
}
