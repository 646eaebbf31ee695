package recovery

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	registry "github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/sdk/extension"
)

func TestStrategies(t *testing.T) {
	tests := []struct {
		name           string
		opts           Options
		strategy       Strategy
		wantState      State
		wantSuggestion string
		wantClass      Class
		wantCalls      int32
		advance        bool
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
			name: "a strategy that answers not mine passes to the policy",
			strategy: StrategyFunc(func(_ context.Context, in extension.StrategyInput) (extension.StrategyDecision, error) {
				return extension.StrategyDecision{NotMine: in.Function != "other", Retry: false}, nil
			}),
			opts:      Options{MaxAttempts: 2},
			wantState: StateExhausted, wantClass: ClassNetwork, wantCalls: 2, advance: true,
		},
		{
			name: "the strategy's suggestion comes first",
			strategy: StrategyFunc(func(context.Context, extension.StrategyInput) (extension.StrategyDecision, error) {
				return extension.StrategyDecision{Retry: false, Class: "auth", Suggestion: "Accept the repository's terms"}, nil
			}),
			wantState: StateFailed, wantClass: ClassAuth, wantCalls: 1, wantSuggestion: "Accept the repository's terms",
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
			// The test strategy is an in-process one asked before the policy table, as an
			// extension from [[extensions]] is by default.
			reg := registry.New(registry.Options{})
			if tt.strategy != nil {
				info := registry.Info{ID: "builtin.test", Transport: registry.TransportBuiltin, Capabilities: []extension.Capability{extension.CapRecoveryStrategy}}
				if _, err := reg.Register(context.Background(), info, tt.strategy); err != nil {
					t.Fatal(err)
				}
				reg.SetOrder(extension.CapRecoveryStrategy, []string{"test", "policy"})
			}
			tt.opts.Extensions = reg
			h := newHarness(t, tt.opts, def)
			id, _ := h.r.Submit(context.Background(), "op", nil)
			if tt.advance {
				h.advanceWhenWaiting(time.Minute)
			}
			op := h.wait(id)
			if op.State != tt.wantState || op.ErrorClass != tt.wantClass || calls.Load() != tt.wantCalls {
				t.Fatalf("got %s/%s after %d calls, want %s/%s after %d", op.State, op.ErrorClass, calls.Load(), tt.wantState, tt.wantClass, tt.wantCalls)
			}
			if tt.wantSuggestion != "" && (len(op.Suggestions) == 0 || op.Suggestions[0] != tt.wantSuggestion) {
				t.Errorf("suggestions = %q, want %q first", op.Suggestions, tt.wantSuggestion)
			}
		})
	}
}
