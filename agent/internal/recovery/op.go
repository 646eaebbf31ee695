package recovery

import (
	"encoding/json"
	"fmt"
)

// Op is a running step's handle on its operation: metadata, the step's checkpoint and
// progress. Its methods are safe to call from the step's goroutines.
type Op struct {
	e    *executor
	rec  *opRec
	step int
}

// ID returns the operation id.
func (o *Op) ID() string {
	o.e.ops.mu.Lock()
	defer o.e.ops.mu.Unlock()
	return o.rec.op.ID
}

// Attempt returns the current step's attempt number, from 1.
func (o *Op) Attempt() int {
	o.e.ops.mu.Lock()
	defer o.e.ops.mu.Unlock()
	return o.rec.op.Attempt
}

// Meta returns a metadata value as JSON decoding left it (numbers are float64).
func (o *Op) Meta(key string) (any, bool) {
	o.e.ops.mu.Lock()
	defer o.e.ops.mu.Unlock()
	v, ok := o.rec.op.Metadata[key]
	return v, ok
}

// DecodeMeta decodes a metadata value into v (a pointer), as json.Unmarshal would.
func (o *Op) DecodeMeta(key string, v any) error {
	raw, ok := o.Meta(key)
	if !ok {
		return fmt.Errorf("metadata %q: not set", key)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("metadata %q: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("metadata %q: %w", key, err)
	}
	return nil
}

// SetMeta sets a metadata value and persists the operation before returning.
func (o *Op) SetMeta(key string, v any) error {
	nv, err := normalize(v)
	if err != nil {
		return fmt.Errorf("metadata %q: %w", key, err)
	}
	snap, err := o.e.ops.update(o.rec, func(op *Operation) { op.Metadata[key] = nv })
	if err != nil {
		return fmt.Errorf("persist metadata %q: %w", key, err)
	}
	o.e.events.update(snap, nil)
	return nil
}

// SaveCheckpoint stores v as the current step's checkpoint and persists it before returning.
// After a crash the step's next run reads it back with LoadCheckpoint.
func (o *Op) SaveCheckpoint(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := o.e.ops.update(o.rec, func(op *Operation) { op.Steps[o.step].Checkpoint = b }); err != nil {
		return fmt.Errorf("persist checkpoint: %w", err)
	}
	return nil
}

// LoadCheckpoint decodes the checkpoint a previous attempt of this step saved into v; found is
// false when there is none.
func (o *Op) LoadCheckpoint(v any) (found bool, err error) {
	o.e.ops.mu.Lock()
	raw := o.rec.op.Steps[o.step].Checkpoint
	o.e.ops.mu.Unlock()
	if len(raw) == 0 || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("checkpoint: %w", err)
	}
	return true, nil
}

// Progress records metadata.progress (and the given fields) and publishes a recovery_update.
// Persisting is throttled to Options.ProgressInterval because progress can change many times a
// second; the last value is persisted with the next state change anyway.
func (o *Op) Progress(percent float64, fields map[string]any) {
	norm := map[string]any{}
	for k, v := range fields {
		if nv, err := normalize(v); err == nil {
			norm[k] = nv
		}
	}
	e := o.e
	e.ops.mu.Lock()
	o.rec.op.Metadata["progress"] = percent
	for k, v := range norm {
		o.rec.op.Metadata[k] = v
	}
	now := e.clk.Now()
	persist := now.Sub(o.rec.lastPersist) >= e.opts.ProgressInterval
	snap := o.rec.op.clone()
	e.ops.mu.Unlock()
	if persist {
		var err error
		if snap, err = e.ops.update(o.rec, func(*Operation) {}); err != nil {
			e.log.Warn("persist progress", "op", snap.ID, "err", err)
		}
	}
	extra := map[string]any{"progress": percent}
	for k, v := range norm {
		extra[k] = v
	}
	e.events.update(snap, extra)
}
