package project

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// localOps is the in-process runner used when no recovery runner is wired (and in unit
// tests). Operations are not persisted: on agent start the manager resubmits installs of
// projects left in an install state, and the idempotent steps skip finished work, which gives
// the same resume-at-the-step behaviour.
type localOps struct {
	log *slog.Logger

	mu     sync.Mutex
	defs   map[string]Definition
	ops    map[string]*localOp
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type localOp struct {
	id, function string
	meta         map[string]any
	state        string
	cancel       context.CancelFunc
}

func newLocalOps(log *slog.Logger) *localOps {
	ctx, cancel := context.WithCancel(context.Background())
	return &localOps{log: log, defs: map[string]Definition{}, ops: map[string]*localOp{}, ctx: ctx, cancel: cancel}
}

func (l *localOps) Register(def Definition) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.defs[def.Name] = def
	return nil
}

func (l *localOps) stop() {
	l.cancel()
	l.wg.Wait()
}

func newOpID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "op_" + hex.EncodeToString(b[:])
}

func (l *localOps) Submit(_ context.Context, function string, meta map[string]any) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	def, ok := l.defs[function]
	if !ok {
		return "", fmt.Errorf("unknown operation %q", function)
	}
	ctx, cancel := context.WithCancel(l.ctx)
	op := &localOp{id: newOpID(), function: function, meta: meta, state: "in_progress", cancel: cancel}
	l.ops[op.id] = op
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer cancel()
		l.run(ctx, def, op)
	}()
	return op.id, nil
}

func (l *localOps) run(ctx context.Context, def Definition, op *localOp) {
	projectID, _ := op.meta["project_id"].(string)
	var err error
	for _, s := range def.Steps {
		if err = ctx.Err(); err != nil {
			break
		}
		if err = s.Run(ctx, projectID); err != nil {
			break
		}
	}
	state := "success"
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled) && l.ctx.Err() != nil:
		// Agent shutdown: leave the project in its install state to be resumed.
		l.setState(op.id, "pending")
		return
	case errors.Is(err, context.Canceled):
		state = "cancelled"
	default:
		state = "failed"
	}
	l.setState(op.id, state)
	if def.OnTerminal != nil {
		def.OnTerminal(context.Background(), projectID, op.id, state, err)
	}
}

func (l *localOps) setState(id, state string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if op, ok := l.ops[id]; ok {
		op.state = state
	}
}

func (l *localOps) Cancel(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	op, ok := l.ops[id]
	if !ok {
		return fmt.Errorf("operation %s not found", id)
	}
	op.cancel()
	return nil
}

func (l *localOps) Retry(id string, _ bool, _ int) (string, error) {
	l.mu.Lock()
	op, ok := l.ops[id]
	l.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("operation %s not found", id)
	}
	return l.Submit(context.Background(), op.function, op.meta)
}

func (l *localOps) Status(id string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	op, ok := l.ops[id]
	if !ok {
		return "", false
	}
	return op.state, true
}
