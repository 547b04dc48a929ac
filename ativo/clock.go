package ativo

import (
	"context"
	"time"
)

// Clock is the source of time for retries, backoff, caches and rechecks.
// Tests inject a clock that moves when they say so, so nothing sleeps.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RequestInfo describes one HTTP request sent to Ativo, for instrumentation.
type RequestInfo struct {
	Endpoint string        // endpoint label
	Path     string        // request path
	Status   int           // HTTP status; 0 when no response arrived
	Duration time.Duration // from sending to the end of the body
	// ModelVersion is the X-API-Model-Version header of the response,
	// or 0 when absent or unparsable.
	ModelVersion int
}

// Observer receives every request a Client sends on a context carrying it.
type Observer func(RequestInfo)

type observerKey struct{}

// WithObserver returns a context whose requests are reported to o. The
// collector attaches one per collection, so the client stays free of any
// metrics library.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

func observe(ctx context.Context, ri RequestInfo) {
	if o, ok := ctx.Value(observerKey{}).(Observer); ok && o != nil {
		o(ri)
	}
}
