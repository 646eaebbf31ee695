package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

// selfTestBucket is the scratch bucket of the persistence self-test.
const selfTestBucket = "recovery_selftest"

// CheckResult is one self-test check.
type CheckResult struct {
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Details string `json:"details"`
}

// unitChecks are the self-test's checks of a runner's store, policies and breaker settings.
type unitChecks struct {
	db     Store
	policy *PolicyStrategy
	opts   Options
}

// SelfTest runs the four unit checks of POST /api/recovery/test against this runner's store and
// policies; each passes only if what it measured matched.
func (r *Runner) SelfTest(ctx context.Context) []CheckResult {
	u := &unitChecks{db: r.db, policy: r.strategies.policy, opts: r.opts}
	checks := []struct {
		name string
		fn   func(context.Context) (string, error)
	}{
		{"persistence_test", u.checkPersistence},
		{"strategy_test", u.checkStrategy},
		{"classification_test", checkClassification},
		{"circuit_breaker_test", u.checkBreaker},
	}
	out := make([]CheckResult, 0, len(checks))
	for _, c := range checks {
		details, err := c.fn(ctx)
		res := CheckResult{Name: c.name, Passed: err == nil, Details: details}
		if err != nil {
			res.Details = err.Error()
		}
		out = append(out, res)
	}
	return out
}

// checkPersistence writes, reads back and deletes a record in a scratch bucket of the real store.
func (u *unitChecks) checkPersistence(context.Context) (string, error) {
	if err := u.db.EnsureBuckets(selfTestBucket); err != nil {
		return "", fmt.Errorf("create scratch bucket: %w", err)
	}
	key := fmt.Sprintf("selftest/%d", time.Now().UnixNano())
	want := Operation{ID: key, FunctionName: "selftest", State: StateRecovering, Attempt: 2, MaxAttempts: 5,
		Metadata: map[string]any{"progress": 42.5, "url": "http://127.0.0.1/x"}, Steps: []StepState{{Name: "a", State: StateSuccess, Checkpoint: json.RawMessage(`{"offset":1024}`)}}}
	start := time.Now()
	if err := u.db.Put(selfTestBucket, key, want); err != nil {
		return "", fmt.Errorf("put: %w", err)
	}
	var got Operation
	found := false
	err := u.db.Scan(selfTestBucket, key, func(k string, raw []byte) error {
		if k == key {
			found = true
			return json.Unmarshal(raw, &got)
		}
		return nil
	})
	if err != nil || !found {
		return "", fmt.Errorf("read back: found=%v err=%v", found, err)
	}
	if got.State != want.State || got.Attempt != 2 || got.Metadata["progress"] != 42.5 || string(got.Steps[0].Checkpoint) != `{"offset":1024}` {
		return "", fmt.Errorf("round trip changed the record: %+v", got)
	}
	if err := u.db.Delete(selfTestBucket, key); err != nil {
		return "", fmt.Errorf("delete: %w", err)
	}
	left := 0
	_ = u.db.Scan(selfTestBucket, key, func(string, []byte) error { left++; return nil })
	if left != 0 {
		return "", errors.New("record still present after delete")
	}
	return fmt.Sprintf("put/scan/delete round trip in bucket %s took %s", selfTestBucket, time.Since(start).Round(time.Microsecond)), nil
}

// checkStrategy verifies the configured policies' backoff arithmetic and decisions.
func (u *unitChecks) checkStrategy(ctx context.Context) (string, error) {
	n := 0
	for _, c := range Classes {
		p := u.policy.Policy(c)
		for attempt := 1; attempt <= 8; attempt++ {
			ceil := BackoffCeiling(p, attempt)
			want := p.BaseDelay << (attempt - 1)
			if p.BaseDelay > 0 && (want > p.MaxDelay || want <= 0) {
				want = max(p.MaxDelay, p.BaseDelay)
			}
			if ceil != want {
				return "", fmt.Errorf("%s attempt %d: ceiling %s, want %s", c, attempt, ceil, want)
			}
			if d := Backoff(p, attempt, 0); d != 0 {
				return "", fmt.Errorf("%s: full jitter with draw 0 gave %s, want 0", c, d)
			}
			if d := Backoff(p, attempt, 0.5); d != ceil/2 {
				return "", fmt.Errorf("%s: draw 0.5 gave %s, want %s", c, d, ceil/2)
			}
			if d := Backoff(p, attempt, 0.999999); d > ceil {
				return "", fmt.Errorf("%s: delay %s above the ceiling %s", c, d, ceil)
			}
			n += 4
		}
		s := &PolicyStrategy{Policies: u.opts.Policies, Rand: func() float64 { return 0.5 }}
		dec, err := s.Decide(ctx, extensionInput(c, 1))
		if err != nil || dec.Retry != p.Retry {
			return "", fmt.Errorf("%s: decision %+v %v, policy says retry=%v", c, dec, err, p.Retry)
		}
		n++
	}
	for _, c := range []Class{ClassNotFound, ClassAuth, ClassPermission, ClassCancelled} {
		if c.TripsBreaker() {
			return "", fmt.Errorf("%s would trip a breaker", c)
		}
	}
	return fmt.Sprintf("%d backoff and decision checks over %d classes passed", n, len(Classes)), nil
}

// checkClassification classifies real errors produced on this machine.
func checkClassification(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: a real ECONNREFUSED
	_, refused := net.DialTimeout("tcp", addr, time.Second)
	_, notExist := os.Open(filepath.Join(os.TempDir(), fmt.Sprintf("recovery-selftest-missing-%d", time.Now().UnixNano())))
	var full error = &fs.PathError{Op: "write", Path: "/models/x.part", Err: syscall.ENOSPC} // what os.File returns on a full disk
	tctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	<-tctx.Done()
	cancel()
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	samples := []struct {
		name string
		err  error
		want Class
	}{
		{"dial closed port", refused, ClassNetwork},
		{"open missing file", notExist, ClassNotFound},
		{"write to full disk", full, ClassResource},
		{"deadline", tctx.Err(), ClassTimeout},
		{"cancelled", cctx.Err(), ClassCancelled},
		{"HTTP 401", HTTPError(http.StatusUnauthorized, nil, ""), ClassAuth},
		{"HTTP 404", HTTPError(http.StatusNotFound, nil, ""), ClassNotFound},
		{"HTTP 429", HTTPError(http.StatusTooManyRequests, http.Header{"Retry-After": {"3"}}, ""), ClassNetwork},
		{"HTTP 502", HTTPError(http.StatusBadGateway, nil, ""), ClassNetwork},
		{"permission", &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrPermission}, ClassPermission},
		{"forced", WithClass(ClassIntegrity, errors.New("sha256 mismatch")), ClassIntegrity},
		{"pip output", errors.New("ERROR: No matching distribution found for foo"), ClassNotFound},
	}
	for _, s := range samples {
		if s.err == nil {
			return "", fmt.Errorf("%s: could not produce the error", s.name)
		}
		if got := Classify(s.err); got != s.want {
			return "", fmt.Errorf("%s (%v) classified %s, want %s", s.name, s.err, got, s.want)
		}
	}
	return fmt.Sprintf("%d sample errors (real syscalls, HTTP statuses, tool output) classified correctly", len(samples)), nil
}

// checkBreaker drives a breaker with the configured settings through a full cycle on a fake clock.
func (u *unitChecks) checkBreaker(context.Context) (string, error) {
	clk := clock.NewFake(time.Unix(0, 0))
	var trans []string
	bo := u.opts.Breaker
	thr := uint32(bo.Threshold)
	b := breaker.New(breaker.Settings{Name: "selftest", MaxRequests: uint32(bo.HalfOpenMax), Timeout: bo.OpenTimeout, Clock: clk,
		ReadyToTrip:   func(c breaker.Counts) bool { return c.ConsecutiveFailures >= thr },
		OnStateChange: func(_ string, from, to breaker.State) { trans = append(trans, string(to)) }})
	for i := 0; i < bo.Threshold; i++ {
		if b.State() != breaker.Closed {
			return "", fmt.Errorf("opened after %d failures, threshold is %d", i, bo.Threshold)
		}
		done, err := b.Allow()
		if err != nil {
			return "", err
		}
		done(breaker.Failure)
	}
	if b.State() != breaker.Open {
		return "", fmt.Errorf("state %s after %d failures, want OPEN", b.State(), bo.Threshold)
	}
	if _, err := b.Allow(); !errors.Is(err, breaker.ErrOpen) {
		return "", fmt.Errorf("open breaker admitted a call (%v)", err)
	}
	clk.Advance(bo.OpenTimeout - time.Millisecond)
	if b.State() != breaker.Open {
		return "", errors.New("half-opened before the open timeout")
	}
	clk.Advance(time.Millisecond)
	if len(trans) != 2 || trans[1] != string(breaker.HalfOpen) {
		return "", fmt.Errorf("timer did not announce HALF_OPEN: %v", trans)
	}
	for i := 0; i < bo.HalfOpenMax; i++ {
		done, err := b.Allow()
		if err != nil {
			return "", fmt.Errorf("probe %d refused: %v", i, err)
		}
		done(breaker.Success)
	}
	if b.State() != breaker.Closed {
		return "", fmt.Errorf("state %s after %d good probes, want CLOSED", b.State(), bo.HalfOpenMax)
	}
	return fmt.Sprintf("CLOSED->%v with threshold %d, open timeout %s, %d probe(s), on a fake clock", trans, bo.Threshold, bo.OpenTimeout, bo.HalfOpenMax), nil
}
