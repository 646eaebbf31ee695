package recovery

import (
	"context"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/sdk/extension"
)

func TestBackoff(t *testing.T) {
	p := Policy{Retry: true, BaseDelay: time.Second, MaxDelay: 60 * time.Second}
	tests := []struct {
		name    string
		attempt int
		u       float64
		want    time.Duration
	}{
		{"first attempt, top of range", 1, 0.999999999, time.Second - time.Nanosecond},
		{"first attempt, half", 1, 0.5, 500 * time.Millisecond},
		{"second doubles the ceiling", 2, 0.5, time.Second},
		{"sixth: 32s ceiling", 6, 0.5, 16 * time.Second},
		{"seventh is capped at max", 7, 0.5, 30 * time.Second},
		{"huge attempt stays capped", 500, 1, 60*time.Second - 1},
		{"zero draw is zero (full jitter)", 4, 0, 0},
		{"attempt 0 treated as 1", 0, 0.5, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Backoff(p, tt.attempt, tt.u)
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("Backoff(attempt %d, u %v) = %v, want %v", tt.attempt, tt.u, got, tt.want)
			}
		})
	}
}

func TestPolicyStrategy(t *testing.T) {
	s := &PolicyStrategy{Policies: DefaultPolicies(), Rand: func() float64 { return 0.5 }}
	tests := []struct {
		class     Class
		attempt   int
		wantRetry bool
		wantDelay float64
	}{
		{ClassNetwork, 1, true, 0.5},
		{ClassNetwork, 3, true, 2},
		{ClassResource, 1, true, 2.5},
		{ClassNotFound, 1, false, 0},
		{ClassAuth, 1, false, 0},
		{ClassPermission, 1, false, 0},
		{ClassCancelled, 1, false, 0},
		{"made_up", 1, true, 0.5}, // falls back to unknown's policy
	}
	for _, tt := range tests {
		t.Run(string(tt.class), func(t *testing.T) {
			d, err := s.Decide(context.Background(), extension.StrategyInput{Class: string(tt.class), Attempt: tt.attempt})
			if err != nil {
				t.Fatal(err)
			}
			if d.Retry != tt.wantRetry || (tt.wantRetry && d.DelaySeconds != tt.wantDelay) {
				t.Fatalf("Decide = %+v, want retry %v delay %v", d, tt.wantRetry, tt.wantDelay)
			}
		})
	}
}
