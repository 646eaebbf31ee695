package recovery

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
)

type breakerEntry struct {
	b        *breaker.Breaker
	function string
	target   string
}

// BreakerStatus is one breaker as the API and circuit_breaker_update report it.
type BreakerStatus struct {
	OperationType       string        `json:"operation_type"`
	Target              string        `json:"target"`
	State               breaker.State `json:"state"`
	TimeoutRemaining    float64       `json:"timeout_remaining"`
	FailureCount        uint32        `json:"failure_count"`
	ConsecutiveFailures uint32        `json:"consecutive_failures"`
	Requests            uint32        `json:"requests"`
	Threshold           int           `json:"threshold"`
	Trips               uint64        `json:"trips"`
}

// breakerFor returns the breaker guarding rec's target, creating it on first use; nil when
// the definition names no target or breakers are disabled.
func (r *Runner) breakerFor(def *Definition, rec *opRec) *breakerEntry {
	if def.Target == nil || r.opts.Disabled {
		return nil
	}
	r.mu.Lock()
	meta := rec.op.clone().Metadata
	r.mu.Unlock()
	target := def.Target(meta)
	if target == "" {
		return nil
	}
	key := def.Name + "|" + target
	r.mu.Lock()
	defer r.mu.Unlock()
	if be, ok := r.breakers[key]; ok {
		return be
	}
	be := &breakerEntry{function: def.Name, target: target}
	threshold := uint32(r.opts.Breaker.Threshold)
	be.b = breaker.New(breaker.Settings{
		Name:        def.Name + "@" + target,
		MaxRequests: uint32(r.opts.Breaker.HalfOpenMax),
		Interval:    r.opts.Breaker.Interval,
		Timeout:     r.opts.Breaker.OpenTimeout,
		ReadyToTrip: func(c breaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		Clock:       r.clk,
		OnStateChange: func(name string, from, to breaker.State) {
			r.log.Info("circuit breaker changed state", "breaker", name, "from", from, "to", to)
			if to == breaker.Open {
				r.addTrip()
			}
			r.publishBreaker(be)
		},
	})
	r.breakers[key] = be
	return be
}

func (r *Runner) breakerStatus(be *breakerEntry) BreakerStatus {
	c := be.b.Counts()
	return BreakerStatus{
		OperationType:       be.function,
		Target:              be.target,
		State:               be.b.State(),
		TimeoutRemaining:    be.b.Remaining().Seconds(),
		FailureCount:        c.TotalFailures,
		ConsecutiveFailures: c.ConsecutiveFailures,
		Requests:            c.Requests,
		Threshold:           r.opts.Breaker.Threshold,
		Trips:               be.b.Trips(),
	}
}

// Breakers returns every breaker's status, sorted by operation type and target.
func (r *Runner) Breakers() []BreakerStatus {
	r.mu.Lock()
	entries := make([]*breakerEntry, 0, len(r.breakers))
	for _, be := range r.breakers {
		entries = append(entries, be)
	}
	r.mu.Unlock()
	out := make([]BreakerStatus, 0, len(entries))
	for _, be := range entries {
		out = append(out, r.breakerStatus(be))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].OperationType != out[j].OperationType {
			return out[i].OperationType < out[j].OperationType
		}
		return out[i].Target < out[j].Target
	})
	return out
}

// breakerRefused handles an open breaker: the operation waits (state recovering, re-queued
// when the breaker probes again) as long as its total wait stays within Breaker.MaxWait;
// beyond that it fails with an error naming the breaker and the time left.
func (r *Runner) breakerRefused(rec *opRec, be *breakerEntry, err error) {
	var oe *breaker.OpenError
	errors.As(err, &oe)
	wait := time.Second // HALF_OPEN with its probe in flight: look again shortly
	if oe != nil && oe.State == breaker.Open {
		wait = oe.Remaining
	}
	now := r.clk.Now()
	r.mu.Lock()
	if rec.breakerWaitAt.IsZero() {
		rec.breakerWaitAt = now
	}
	waited := now.Sub(rec.breakerWaitAt)
	r.mu.Unlock()
	if waited+wait > r.opts.Breaker.MaxWait {
		r.mu.Lock()
		rec.breakerWaitAt = time.Time{}
		r.mu.Unlock()
		ferr := fmt.Errorf("%w (the operation waited %s; retry it after the breaker closes)", err, waited.Round(time.Second))
		snap, _ := r.update(rec, func(op *Operation) { r.markTerminal(op, StateFailed, ClassNetwork, ferr) })
		r.finish(rec, snap)
		return
	}
	snap, perr := r.update(rec, func(op *Operation) {
		op.State = StateRecovering
		op.Error = err.Error()
		op.ErrorClass = ClassNetwork
		op.NextAttemptAt = ptrTime(now.Add(wait))
		op.Metadata["waiting_for_breaker"] = be.b.Name()
	})
	if perr != nil {
		r.log.Error("persist breaker wait", "op", snap.ID, "err", perr)
	}
	r.publishUpdate(snap, map[string]any{"retry_in_seconds": wait.Seconds(), "breaker": be.b.Name()})
	r.mu.Lock()
	if !r.stopping {
		r.scheduleLocked(rec, wait)
	}
	r.mu.Unlock()
}
