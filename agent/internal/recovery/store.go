package recovery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// Store is the subset of *store.DB the runner uses.
type Store interface {
	Put(bucket, key string, v any) error
	Delete(bucket, key string) error
	Scan(bucket, prefix string, fn func(key string, raw []byte) error) error
	EnsureBuckets(names ...string) error
}

// opStore is the table of operations the runner knows and their persistence: every state
// change is written to the store's bucket before the runner acts on it, and finished
// operations are pruned after KeepFinished.
type opStore struct {
	db           Store
	bucket       string
	keepFinished time.Duration
	clk          clock.Clock
	log          *slog.Logger

	// mu guards recs, lastID, lastPrune and the fields of every opRec: the executor and the
	// control take it to read or change a record.
	mu        sync.Mutex
	recs      map[string]*opRec
	lastID    int64
	lastPrune time.Time
}

// opRec is one operation in memory: its last state and what the runner knows about its run.
type opRec struct {
	op      Operation
	pmu     sync.Mutex // serialises persisting this op so an older snapshot never lands last
	running bool
	rerun   bool // woken while running: queue again when the run ends
	cancel  context.CancelCauseFunc
	changed chan struct{}
	// stepDone is closed when the running step returns.
	stepDone      chan struct{}
	lastPersist   time.Time
	breakerWaitAt time.Time
	runStart      time.Time
}

func newOpStore(db Store, opts Options, log *slog.Logger) *opStore {
	return &opStore{db: db, bucket: opts.Bucket, keepFinished: opts.KeepFinished, clk: opts.Clock, log: log, recs: map[string]*opRec{}}
}

// load reads every persisted operation; unreadable records are skipped with a warning.
func (s *opStore) load() ([]Operation, error) {
	var loaded []Operation
	err := s.db.Scan(s.bucket, "op_", func(key string, raw []byte) error {
		var op Operation
		if err := json.Unmarshal(raw, &op); err != nil {
			s.log.Warn("skipping unreadable operation", "key", key, "err", err)
			return nil
		}
		loaded = append(loaded, op)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recovery: load operations: %w", err)
	}
	return loaded, nil
}

// adopt adds the loaded operations the table does not know yet, prunes, and returns the
// unfinished ones: resume (pending or in progress, by id) runs at once, later (recovering)
// after the delay until its next attempt.
func (s *opStore) adopt(loaded []Operation) (resume []string, later map[string]time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range loaded {
		if _, ok := s.recs[op.ID]; ok {
			continue // known already: submitted before Start, or a restart of this runner
		}
		if op.Metadata == nil {
			op.Metadata = map[string]any{}
		}
		s.recs[op.ID] = &opRec{op: op, changed: make(chan struct{})}
		if n := idNumber(op.ID); n > s.lastID {
			s.lastID = n
		}
	}
	s.pruneLocked(s.clk.Now())
	later = map[string]time.Duration{}
	now := s.clk.Now()
	for id, rec := range s.recs {
		switch rec.op.State {
		case StatePending, StateInProgress:
			resume = append(resume, id)
		case StateRecovering:
			d := time.Duration(0)
			if rec.op.NextAttemptAt != nil {
				d = rec.op.NextAttemptAt.Sub(now)
			}
			later[id] = d
		}
	}
	sort.Strings(resume)
	return resume, later
}

// add gives op a new id and its creation time and puts it in the table; update persists it.
func (s *opStore) add(op Operation) *opRec {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	op.ID = s.newIDLocked(now)
	op.CreatedAt, op.UpdatedAt = now, now
	rec := &opRec{op: op, changed: make(chan struct{})}
	s.recs[op.ID] = rec
	return rec
}

// remove forgets an operation that could not be persisted.
func (s *opStore) remove(id string) {
	s.mu.Lock()
	delete(s.recs, id)
	s.mu.Unlock()
}

// newIDLocked returns op_<16 hex digits of a strictly increasing microsecond clock>: ids sort
// by creation time, as keys and as strings.
func (s *opStore) newIDLocked(now time.Time) string {
	n := now.UnixMicro()
	if n <= s.lastID {
		n = s.lastID + 1
	}
	s.lastID = n
	return fmt.Sprintf("op_%016x", n)
}

func idNumber(id string) int64 {
	var n int64
	if _, err := fmt.Sscanf(id, "op_%x", &n); err != nil {
		return 0
	}
	return n
}

// get returns a copy of an operation.
func (s *opStore) get(id string) (Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[id]
	if !ok {
		return Operation{}, notFound(id)
	}
	return rec.op.clone(), nil
}

func notFound(id string) error {
	return apierr.Newf(apierr.NotFound, "OperationNotFoundError", "operation %q not found", id).
		Suggest("List operations with GET /api/recovery/operations; ids look like op_0006a1b2c3d4e5f6")
}

// list returns copies of the operations matching f, newest first.
func (s *opStore) list(f Filter) []Operation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Operation{}
	for _, rec := range s.recs {
		if f.match(&rec.op) {
			out = append(out, rec.op.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// wait blocks until the operation is terminal and its run has returned, or ctx ends.
func (s *opStore) wait(ctx context.Context, id string) (Operation, error) {
	for {
		s.mu.Lock()
		rec, ok := s.recs[id]
		if !ok {
			s.mu.Unlock()
			return Operation{}, notFound(id)
		}
		if rec.op.State.Terminal() && !rec.running {
			op := rec.op.clone()
			s.mu.Unlock()
			return op, nil
		}
		ch := rec.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			op, _ := s.get(id)
			return op, ctx.Err()
		}
	}
}

// finished reports whether id is unknown or has ended.
func (s *opStore) finished(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[id]
	return !ok || (rec.op.State.Terminal() && !rec.running)
}

// update applies mutate, stamps UpdatedAt and persists the result. Persisting is serialised
// per operation so snapshots land in the order they were taken.
func (s *opStore) update(rec *opRec, mutate func(op *Operation)) (Operation, error) {
	rec.pmu.Lock()
	defer rec.pmu.Unlock()
	s.mu.Lock()
	mutate(&rec.op)
	rec.op.UpdatedAt = s.clk.Now()
	snap := rec.op.clone()
	s.mu.Unlock()
	err := s.db.Put(s.bucket, snap.ID, snap)
	if err == nil {
		s.mu.Lock()
		rec.lastPersist = snap.UpdatedAt
		s.mu.Unlock()
	}
	s.notify(rec)
	return snap, err
}

// notify wakes everyone waiting for rec to change.
func (s *opStore) notify(rec *opRec) {
	s.mu.Lock()
	close(rec.changed)
	rec.changed = make(chan struct{})
	s.mu.Unlock()
}

// normalize round-trips v through JSON so in-memory metadata equals what a restart reloads.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// pruneLocked forgets finished operations older than KeepFinished, in memory and in the store.
func (s *opStore) pruneLocked(now time.Time) {
	s.lastPrune = now
	if s.keepFinished <= 0 {
		return
	}
	cutoff := now.Add(-s.keepFinished)
	for id, rec := range s.recs {
		end := rec.op.UpdatedAt
		if rec.op.FinishedAt != nil {
			end = *rec.op.FinishedAt
		}
		if !rec.op.State.Terminal() || rec.running || end.After(cutoff) {
			continue
		}
		if err := s.db.Delete(s.bucket, id); err != nil {
			s.log.Warn("prune finished operation", "op", id, "err", err)
			continue
		}
		delete(s.recs, id)
	}
}

// maybePrune prunes at most hourly; it is called after operations finish.
func (s *opStore) maybePrune() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.clk.Now(); now.Sub(s.lastPrune) >= time.Hour {
		s.pruneLocked(now)
	}
}
