package backoff

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestCeilingDoublesUpToMax(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := p.Ceiling(i); got != w*time.Millisecond {
			t.Errorf("Ceiling(%d) = %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if got := p.Ceiling(1 << 20); got != time.Second {
		t.Errorf("Ceiling of a huge attempt = %v, want the max", got)
	}
}

func TestDelayStaysInTheUpperHalfOfTheCeiling(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt := range 6 {
		c := p.Ceiling(attempt)
		for range 1000 {
			d := p.Delay(attempt)
			if d < c/2 || d > c {
				t.Fatalf("Delay(%d) = %v outside [%v, %v]", attempt, d, c/2, c)
			}
		}
	}
}

func TestCounterWaitsGrowAndReset(t *testing.T) {
	// Under synctest the sleeps take no real time but the clock advances
	// exactly, so the total wait of a failure run can be checked.
	synctest.Test(t, func(t *testing.T) {
		c := Counter{Policy: Policy{Base: time.Second, Max: 8 * time.Second}}
		start := time.Now()
		for range 5 {
			time.Sleep(c.Next())
		}
		// ceilings 1+2+4+8+8 = 23s; each wait is at least half its ceiling
		if elapsed := time.Since(start); elapsed < 23*time.Second/2 || elapsed > 23*time.Second {
			t.Fatalf("five waits took %v, want between 11.5s and 23s", elapsed)
		}
		c.Reset()
		if c.Peek() != time.Second {
			t.Fatalf("after Reset the next ceiling is %v, want the base", c.Peek())
		}
	})
}
