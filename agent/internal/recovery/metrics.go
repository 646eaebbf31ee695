package recovery

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
)

// metricsKey is the record in the metrics bucket that holds the recovery history.
const metricsKey = "recovery/totals"

// Totals is the recorded history behind GET /api/recovery/performance, persisted after every
// terminal state and breaker trip so it survives restarts.
type Totals struct {
	// Finished counts terminal states reached (a retried operation counts again).
	Finished  int64 `json:"finished"`
	Succeeded int64 `json:"succeeded"`
	// Recovered counts successes that needed at least one retry.
	Recovered  int64 `json:"recovered"`
	Failed     int64 `json:"failed"`
	Exhausted  int64 `json:"exhausted"`
	Cancelled  int64 `json:"cancelled"`
	RetryCount int64 `json:"retry_attempts"`
	// RecoverySeconds sums, over recovered operations, the time from the first failure to success.
	RecoverySeconds float64 `json:"recovery_seconds"`
	// RecoveredAttempts sums the attempts recovered operations took.
	RecoveredAttempts int64 `json:"recovered_attempts"`
	// SucceededAttempts sums the attempts successful operations took.
	SucceededAttempts int64 `json:"succeeded_attempts"`
	BreakerTrips      int64 `json:"breaker_trips"`
}

// Performance is the performance object of the spec.
type Performance struct {
	TotalOperations            int64   `json:"total_operations"`
	RecoveredOperations        int64   `json:"recovered_operations"`
	FailedOperations           int64   `json:"failed_operations"`
	AverageRecoveryTime        float64 `json:"average_recovery_time"`
	RetryAttempts              int64   `json:"retry_attempts"`
	CircuitBreakerTrips        int64   `json:"circuit_breaker_trips"`
	SuccessRate                float64 `json:"success_rate"`
	AverageAttemptsPerRecovery float64 `json:"average_attempts_per_recovery"`
	// Extra detail beyond the spec.
	RecoveredAfterRetry int64 `json:"recovered_after_retry"`
	CancelledOperations int64 `json:"cancelled_operations"`
	ExhaustedOperations int64 `json:"exhausted_operations"`
}

// Performance derives the spec's numbers from the history, with the spec's arithmetic:
// recovered_operations counts operations the runner carried to success (first try or after
// retries; recovered_after_retry only the latter), success_rate is successes over finished
// non-cancelled operations, average_attempts_per_recovery the mean attempts a successful
// operation took, and average_recovery_time the mean seconds from first failure to success
// over operations that needed a retry.
func (t Totals) Performance() Performance {
	p := Performance{
		TotalOperations:     t.Finished,
		RecoveredOperations: t.Succeeded,
		RecoveredAfterRetry: t.Recovered,
		FailedOperations:    t.Failed + t.Exhausted,
		RetryAttempts:       t.RetryCount,
		CircuitBreakerTrips: t.BreakerTrips,
		CancelledOperations: t.Cancelled,
		ExhaustedOperations: t.Exhausted,
	}
	if n := t.Succeeded + t.Failed + t.Exhausted; n > 0 {
		p.SuccessRate = float64(t.Succeeded) / float64(n)
	}
	if t.Recovered > 0 {
		p.AverageRecoveryTime = t.RecoverySeconds / float64(t.Recovered)
	}
	if t.Succeeded > 0 {
		p.AverageAttemptsPerRecovery = float64(t.SucceededAttempts) / float64(t.Succeeded)
	}
	return p
}

// history keeps the Totals and persists them after every change.
type history struct {
	db     Store
	bucket string
	log    *slog.Logger

	mu sync.Mutex
	t  Totals
}

// load reads the persisted history, if any.
func (h *history) load() error {
	var t Totals
	found := false
	err := h.db.Scan(h.bucket, metricsKey, func(key string, raw []byte) error {
		if key != metricsKey {
			return nil
		}
		found = true
		return json.Unmarshal(raw, &t)
	})
	if err != nil {
		return fmt.Errorf("recovery: load metrics: %w", err)
	}
	if found {
		h.mu.Lock()
		h.t = t
		h.mu.Unlock()
	}
	return nil
}

// totals returns the recorded history.
func (h *history) totals() Totals {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t
}

func (h *history) update(fn func(t *Totals)) {
	h.mu.Lock()
	fn(&h.t)
	t := h.t
	h.mu.Unlock()
	if err := h.db.Put(h.bucket, metricsKey, t); err != nil {
		h.log.Warn("persist recovery metrics", "err", err)
	}
}

func (h *history) addRetry() { h.update(func(t *Totals) { t.RetryCount++ }) }

func (h *history) addTrip() { h.update(func(t *Totals) { t.BreakerTrips++ }) }

func (h *history) recordTerminal(op Operation) {
	h.update(func(t *Totals) {
		t.Finished++
		switch op.State {
		case StateSuccess:
			t.Succeeded++
			t.SucceededAttempts += int64(op.TotalAttempts)
			if op.Retries > 0 {
				t.Recovered++
				t.RecoveredAttempts += int64(op.TotalAttempts)
				if op.FirstFailureAt != nil && op.FinishedAt != nil {
					t.RecoverySeconds += op.FinishedAt.Sub(*op.FirstFailureAt).Seconds()
				}
			}
		case StateFailed:
			t.Failed++
		case StateExhausted:
			t.Exhausted++
		case StateCancelled:
			t.Cancelled++
		}
	})
}
