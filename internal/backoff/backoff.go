// Package backoff computes exponential waits with jitter.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy grows waits from Base, doubling each attempt, up to Max.
type Policy struct {
	Base time.Duration
	Max  time.Duration
}

// Ceiling returns the longest wait for attempt (0-based), before jitter.
func (p Policy) Ceiling(attempt int) time.Duration {
	if attempt < 0 {
		attempt = 0
	}
	d := p.Base
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Delay returns a wait for attempt (0-based) drawn uniformly from the
// upper half of its ceiling ("equal jitter"): waits still grow, and
// clients failing together spread out instead of retrying in lockstep.
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Ceiling(attempt)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Counter steps through a Policy's waits for one run of failures. The
// zero value is unusable; set Policy.
type Counter struct {
	Policy  Policy
	attempt int
}

// Next returns the wait before the next attempt and counts the failure.
func (c *Counter) Next() time.Duration {
	d := c.Policy.Delay(c.attempt)
	c.attempt++
	return d
}

// Peek returns the ceiling of the next wait without counting.
func (c *Counter) Peek() time.Duration { return c.Policy.Ceiling(c.attempt) }

// Reset starts over after a success.
func (c *Counter) Reset() { c.attempt = 0 }
