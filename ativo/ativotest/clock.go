package ativotest

import (
	"sync"
	"time"
)

// Clock is a fake ativo.Clock. Time stands still until Advance, except
// that After moves it forward by the wait and fires at once, so code that
// waits (retry backoff) runs instantly while seeing time pass.
type Clock struct {
	mu  sync.Mutex
	now time.Time
	// waits records every After duration, for asserting a schedule.
	waits []time.Duration
}

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// After advances the clock by d and returns a channel that has fired.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// Waits returns the durations passed to After so far.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
