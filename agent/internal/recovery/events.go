package recovery

import (
	"time"

	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// Event names.
const (
	EventUpdate    = events.RecoveryUpdate
	EventCompleted = events.RecoveryCompleted
	EventBreaker   = events.BreakerUpdate
)

// Event is an event name and its payload, as Snapshot returns them for the hub to send.
type Event struct {
	Name string
	Data map[string]any
}

func updatePayload(op Operation, extra map[string]any) map[string]any {
	d := map[string]any{
		"operation_id":  op.ID,
		"function_name": op.FunctionName,
		"state":         op.State,
		"attempt":       op.Attempt,
		"max_attempts":  op.MaxAttempts,
		"timestamp":     op.UpdatedAt.UTC().Format(time.RFC3339Nano),
		"current_step":  op.CurrentStep,
		"total_steps":   len(op.Steps),
	}
	if op.CurrentStep < len(op.Steps) {
		d["step"] = op.Steps[op.CurrentStep].Name
	}
	if op.Error != "" {
		d["error"] = op.Error
		d["error_class"] = op.ErrorClass
	}
	if p, ok := op.Metadata["progress"]; ok {
		d["progress"] = p
	}
	if op.NextAttemptAt != nil {
		d["next_attempt_at"] = op.NextAttemptAt.UTC().Format(time.RFC3339Nano)
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func completedPayload(op Operation, start time.Time) map[string]any {
	end := op.UpdatedAt
	if op.FinishedAt != nil {
		end = *op.FinishedAt
	}
	if start.IsZero() {
		start = op.CreatedAt
		if op.StartedAt != nil {
			start = *op.StartedAt
		}
	}
	d := map[string]any{
		"operation_id":   op.ID,
		"function_name":  op.FunctionName,
		"success":        op.State == StateSuccess,
		"final_state":    op.State,
		"total_attempts": op.TotalAttempts,
		"duration":       end.Sub(start).Seconds(),
		"timestamp":      end.UTC().Format(time.RFC3339Nano),
	}
	if op.Error != "" && op.State != StateSuccess {
		d["error"] = op.Error
		d["error_class"] = op.ErrorClass
		d["suggestions"] = op.Suggestions
	}
	return d
}

// eventPublisher publishes the runner's events: an operation's on its own topic and on the
// all-operations topic, a breaker's on the breakers topic.
type eventPublisher struct {
	pub Publisher
	clk clock.Clock
}

// update publishes op's recovery_update, with extra fields.
func (p *eventPublisher) update(op Operation, extra map[string]any) {
	d := updatePayload(op, extra)
	p.pub.Publish(events.OpTopic(op.ID), EventUpdate, d)
	p.pub.Publish(events.TopicAllOps, EventUpdate, d)
}

// completed publishes op's recovery_completed; start is when its run began (zero: its
// StartedAt).
func (p *eventPublisher) completed(op Operation, start time.Time) {
	d := completedPayload(op, start)
	p.pub.Publish(events.OpTopic(op.ID), EventCompleted, d)
	p.pub.Publish(events.TopicAllOps, EventCompleted, d)
}

func breakerPayload(s BreakerStatus, now time.Time) map[string]any {
	return map[string]any{
		"operation_type":       s.OperationType,
		"target":               s.Target,
		"state":                s.State,
		"timeout_remaining":    s.TimeoutRemaining,
		"failure_count":        s.FailureCount,
		"consecutive_failures": s.ConsecutiveFailures,
		"threshold":            s.Threshold,
		"trips":                s.Trips,
		"timestamp":            now.UTC().Format(time.RFC3339Nano),
	}
}

// breaker publishes a breaker's circuit_breaker_update.
func (p *eventPublisher) breaker(s BreakerStatus) {
	p.pub.Publish(events.TopicBreakers, EventBreaker, breakerPayload(s, p.clk.Now()))
}

// Snapshot returns the events that bring a new subscriber up to date. For an operation id:
// its recovery_update, plus recovery_completed when it has finished (nil for an unknown id).
// For "" (all operations): a recovery_update per active operation and a
// circuit_breaker_update per breaker.
func (r *Runner) Snapshot(opID string) []Event {
	if opID != "" {
		op, err := r.Get(opID)
		if err != nil {
			return nil
		}
		evs := []Event{{Name: EventUpdate, Data: updatePayload(op, nil)}}
		if op.State.Terminal() {
			evs = append(evs, Event{Name: EventCompleted, Data: completedPayload(op, time.Time{})})
		}
		return evs
	}
	ops, _ := r.List(Filter{States: []State{StatePending, StateInProgress, StateRecovering}})
	var evs []Event
	for i := len(ops) - 1; i >= 0; i-- {
		evs = append(evs, Event{Name: EventUpdate, Data: updatePayload(ops[i], nil)})
	}
	now := r.opts.Clock.Now()
	for _, b := range r.Breakers() {
		evs = append(evs, Event{Name: EventBreaker, Data: breakerPayload(b, now)})
	}
	return evs
}

// HubSnapshot adapts Snapshot to events.SnapshotFunc: it answers kind "recovery" (id "all" or an
// operation id) and returns nil for other kinds, so the app can chain providers.
func (r *Runner) HubSnapshot(kind, id string) []events.Event {
	if kind != events.KindRecovery {
		return nil
	}
	if id == "all" {
		id = ""
	}
	evs := r.Snapshot(id)
	out := make([]events.Event, len(evs))
	for i, e := range evs {
		out[i] = events.Event{Name: e.Name, Data: e.Data}
	}
	return out
}

// BreakerEventData is the circuit_breaker_update payload of s, so breakers outside the runner
// (the downloader's per-host ones) publish the same event as the runner's.
func BreakerEventData(s BreakerStatus, now time.Time) map[string]any { return breakerPayload(s, now) }
