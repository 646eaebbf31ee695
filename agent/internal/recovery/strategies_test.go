package recovery

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/sdk/extension"
)

func TestStrategies(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		strategy  Strategy
		functions []string
		wantState State
		wantClass Class
		wantCalls int32
		advance   bool
	}{
		{
			name: "extension refuses a retry",
			strategy: StrategyFunc(func(context.Context, extension.StrategyInput) (extension.StrategyDecision, error) {
				return extension.StrategyDecision{Retry: false}, nil
			}),
			wantState: StateFailed, wantClass: ClassNetwork, wantCalls: 1,
		},
		{
			name: "extension reclassifies and retries with its own delay",
			strategy: StrategyFunc(func(_ context.Context, in extension.StrategyInput) (extension.StrategyDecision, error) {
				if in.Function != "op" || in.Class != "network" || in.Attempt < 1 {
					return extension.StrategyDecision{}, errors.New("unexpected input")
				}
				return extension.StrategyDecision{Retry: in.Attempt < 2, DelaySeconds: 7, Class: "resource"}, nil
			}),
			wantState: StateFailed, wantClass: ClassResource, wantCalls: 2, advance: true,
		},
		{
			name: "a failing extension falls back to the policy",
			strategy: StrategyFunc(func(context.Context, extension.StrategyInput) (extension.StrategyDecision, error) {
				return extension.StrategyDecision{}, errors.New("plugin crashed")
			}),
			opts:      Options{MaxAttempts: 2},
			wantState: StateExhausted, wantClass: ClassNetwork, wantCalls: 2, advance: true,
		},
		{
			name: "a strategy for another function is not asked",
			strategy: StrategyFunc(func(context.Context, extension.StrategyInput) (extension.StrategyDecision, error) {
				return extension.StrategyDecision{Retry: false}, nil
			}),
			functions: []string{"other"},
			opts:      Options{MaxAttempts: 2},
			wantState: StateExhausted, wantClass: ClassNetwork, wantCalls: 2, advance: true,
		},
		{
			name:      "disabled recovery runs once",
			opts:      Options{Disabled: true},
			wantState: StateFailed, wantClass: ClassNetwork, wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			def := Definition{Name: "op", Steps: []Step{{Name: "s", Run: func(context.Context, *Op) error {
				calls.Add(1)
				return syscall.ECONNRESET
			}}}}
			h := newHarness(t, tt.opts, def)
			if tt.strategy != nil {
				h.r.RegisterStrategy("test.strategy", tt.strategy, tt.functions...)
			}
			id, _ := h.r.Submit(context.Background(), "op", nil)
			if tt.advance {
				h.advanceWhenWaiting(time.Minute)
			}
			op := h.wait(id)
			if op.State != tt.wantState || op.ErrorClass != tt.wantClass || calls.Load() != tt.wantCalls {
				t.Fatalf("got %s/%s after %d calls, want %s/%s after %d", op.State, op.ErrorClass, calls.Load(), tt.wantState, tt.wantClass, tt.wantCalls)
			}
		})
	}
}
