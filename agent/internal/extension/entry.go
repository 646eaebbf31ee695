package extension

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Entry is one registered extension: its description, its implementation, its state and its
// call statistics.
type Entry struct {
	reg   *Registry
	stats stats

	mu        sync.RWMutex
	info      Info
	impl      any
	closer    Closer
	state     State
	lastErr   string
	lastErrAt *time.Time
	closed    bool
	// eventAt is when the last change was published (see errorEventInterval).
	eventAt time.Time
}

// errorEventInterval bounds the change events failing calls cause: at most one per extension
// per interval, so a module that fails on every request cannot flood the event clients.
// State changes are always published.
const errorEventInterval = 10 * time.Second

func newEntry(r *Registry, info Info) *Entry {
	info.Capabilities = slices.Clone(info.Capabilities)
	return &Entry{reg: r, info: info, state: StateFailed}
}

// ID is the extension's registry id.
func (e *Entry) ID() string { return e.info.ID }

// Transport is how the extension runs.
func (e *Entry) Transport() Transport { return e.info.Transport }

// Impl is the implementation: a built-in's own type or a transport's Loaded value. Consumers
// type-assert it to the interface they need.
func (e *Entry) Impl() any {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.impl
}

// State is the extension's current state.
func (e *Entry) State() State {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.state
}

func (e *Entry) has(c sdk.Capability) bool { return slices.Contains(e.info.Capabilities, c) }

func (e *Entry) usable(c sdk.Capability) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.state == StateLoaded && e.impl != nil && slices.Contains(e.info.Capabilities, c)
}

func (e *Entry) loaded(impl any) {
	e.mu.Lock()
	e.impl = impl
	if c, ok := impl.(Closer); ok && e.closer == nil {
		e.closer = c
	}
	e.state = StateLoaded
	e.mu.Unlock()
	e.reg.log.Info("extension loaded", "extension", e.info.ID, "transport", e.info.Transport, "capabilities", e.info.Capabilities)
	e.reg.changed(e)
}

// setState changes the state (transports report crashes and recoveries through it); err is
// recorded as the last error when non-nil.
func (e *Entry) setState(s State, err error) {
	e.mu.Lock()
	changed := e.state != s
	e.state = s
	if err != nil {
		e.recordLocked(err)
		changed = true
	}
	if changed {
		e.eventAt = e.reg.now()
	}
	e.mu.Unlock()
	if changed {
		e.reg.changed(e)
	}
}

func (e *Entry) recordLocked(err error) {
	now := e.reg.now().UTC()
	e.lastErr = err.Error()
	e.lastErrAt = &now
}

// Observe records one call: its duration and its error (nil on success). Calls made through
// Call are observed already; a consumer that calls Impl directly observes itself.
func (e *Entry) Observe(d time.Duration, err error) {
	timeout := err != nil && (errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded))
	e.stats.observe(d, err != nil, timeout)
	if err == nil {
		return
	}
	e.mu.Lock()
	e.recordLocked(err)
	now := e.reg.now()
	publish := e.eventAt.IsZero() || now.Sub(e.eventAt) >= errorEventInterval
	if publish {
		e.eventAt = now
	}
	e.mu.Unlock()
	if publish {
		e.reg.changed(e)
	}
}

// Status returns the extension's status with its current statistics.
func (e *Entry) Status() Status {
	e.mu.RLock()
	defer e.mu.RUnlock()
	caps := slices.Clone(e.info.Capabilities)
	if caps == nil {
		caps = []sdk.Capability{}
	}
	return Status{ID: e.info.ID, Version: e.info.Version, Transport: e.info.Transport, Capabilities: caps,
		State: e.state, LastError: e.lastErr, LastErrorAt: e.lastErrAt, Path: e.info.Path, Stats: e.stats.snapshot()}
}

func (e *Entry) close(ctx context.Context) error {
	e.mu.Lock()
	c, closed := e.closer, e.closed
	e.closed = true
	e.mu.Unlock()
	if c == nil || closed {
		return nil
	}
	return c.Close(ctx)
}

// Call runs fn as one call of extension e: it records duration and outcome in e's statistics
// and turns a panic into an error, so a misbehaving in-process extension cannot take a request
// down.
func Call[T any](ctx context.Context, e *Entry, fn func(ctx context.Context) (T, error)) (out T, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("extension %s panicked: %v", e.info.ID, p)
			e.reg.log.Error("extension panicked", "extension", e.info.ID, "panic", p, "stack", string(debug.Stack()))
		}
		if err != nil {
			err = fmt.Errorf("extension %s: %w", e.info.ID, err)
		}
		e.Observe(time.Since(start), err)
	}()
	return fn(ctx)
}
