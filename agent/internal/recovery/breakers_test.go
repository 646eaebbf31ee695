package recovery

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/events"
)

func TestBreakerOpensAndRecovers(t *testing.T) {
	var healthy atomic.Bool
	def := Definition{Name: "dl", MaxAttempts: 1,
		Target: func(meta map[string]any) string { return "models.example" },
		Steps: []Step{{Name: "get", Run: func(context.Context, *Op) error {
			if healthy.Load() {
				return nil
			}
			return HTTPError(502, nil, "mirror")
		}}}}
	h := newHarness(t, Options{Breaker: BreakerOptions{Threshold: 2, OpenTimeout: 30 * time.Second}}, def)
	for i := 0; i < 2; i++ {
		id, _ := h.r.Submit(context.Background(), "dl", nil)
		if op := h.wait(id); op.State != StateExhausted {
			t.Fatalf("op %d = %s", i, op.State)
		}
	}
	b := h.r.Breakers()
	if len(b) != 1 || b[0].State != "OPEN" || b[0].Target != "models.example" || b[0].TimeoutRemaining != 30 {
		t.Fatalf("breakers = %+v", b)
	}
	// MaxWait 0: an operation fails at once with an error naming the breaker and time left.
	id, _ := h.r.Submit(context.Background(), "dl", nil)
	op := h.wait(id)
	if op.State != StateFailed || !strings.Contains(op.Error, "dl@models.example is OPEN") || !strings.Contains(op.Error, "next probe in 30s") {
		t.Fatalf("op while open = %s %q", op.State, op.Error)
	}
	healthy.Store(true)
	h.clk.Advance(30 * time.Second) // the breaker's timer announces HALF_OPEN
	id, _ = h.r.Submit(context.Background(), "dl", nil)
	if op := h.wait(id); op.State != StateSuccess {
		t.Fatalf("probe op = %s", op.State)
	}
	var states []string
	for _, e := range h.pub.named(events.TopicBreakers, EventBreaker) {
		states = append(states, fmt.Sprint(e["state"]))
	}
	if strings.Join(states, " ") != "OPEN HALF_OPEN CLOSED" {
		t.Fatalf("circuit_breaker_update states = %v", states)
	}
	if perf := h.r.Totals().Performance(); perf.CircuitBreakerTrips != 1 {
		t.Fatalf("trips = %d", perf.CircuitBreakerTrips)
	}
}

func TestBreakerWaitIsBounded(t *testing.T) {
	var calls atomic.Int32
	def := Definition{Name: "dl", MaxAttempts: 1,
		Target: func(map[string]any) string { return "h" },
		Steps: []Step{{Name: "get", Run: func(context.Context, *Op) error {
			if calls.Add(1) == 1 {
				return HTTPError(500, nil, "")
			}
			return nil
		}}}}
	h := newHarness(t, Options{Breaker: BreakerOptions{Threshold: 1, OpenTimeout: 10 * time.Second, MaxWait: time.Minute}}, def)
	id, _ := h.r.Submit(context.Background(), "dl", nil)
	h.wait(id)
	id, _ = h.r.Submit(context.Background(), "dl", nil)
	stop := make(chan struct{})
	defer close(stop)
	h.clk.WaitPending(2, stop) // the breaker's half-open timer and the op's wake-up
	op, _ := h.r.Get(id)
	if op.State != StateRecovering || op.Metadata["waiting_for_breaker"] != "dl@h" {
		t.Fatalf("op waiting on breaker = %s %v", op.State, op.Metadata)
	}
	h.clk.Advance(10 * time.Second)
	if op := h.wait(id); op.State != StateSuccess {
		t.Fatalf("after breaker half-opened: %s %s", op.State, op.Error)
	}
}
