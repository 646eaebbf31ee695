package selftest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("runs loopback scenarios")
	}
	s, scratch := newSuite(t, fastAgent())
	res, err := s.RunScenarios(context.Background(), nil, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("the scenarios' scratch stores were not removed: %v", left)
	}
	if len(res) != len(Scenarios()) {
		t.Fatalf("%d results for %d scenarios", len(res), len(Scenarios()))
	}
	for _, s := range res {
		t.Run(s.ID, func(t *testing.T) {
			if !s.Passed {
				t.Fatalf("%s: %s", s.ID, s.Error)
			}
			t.Logf("%s (%.2fs): %s", s.ID, s.Seconds, s.Details)
		})
	}
}

// fastAgent is an agent configured with millisecond backoff and a quick breaker: the
// scenarios run with the agent's own policies, so this keeps them well under a second each.
func fastAgent() recovery.Options {
	pol := recovery.DefaultPolicies()
	for c, p := range pol {
		if p.Retry {
			p.BaseDelay, p.MaxDelay = 5*time.Millisecond, 40*time.Millisecond
			pol[c] = p
		}
	}
	return recovery.Options{Policies: pol, MaxRetryAfter: 2 * time.Second, MaxTestDuration: time.Minute,
		Breaker: recovery.BreakerOptions{Threshold: 3, OpenTimeout: 150 * time.Millisecond, HalfOpenMax: 1}}
}

// TestScenariosUseConfiguredPolicies: the scenarios measure the agent as configured, so a
// policy that does not retry makes the recovery scenario fail, and the breaker scenario trips
// at the configured threshold.
func TestScenariosUseConfiguredPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs loopback scenarios")
	}
	t.Parallel()
	o := fastAgent()
	net := o.Policies[recovery.ClassNetwork]
	net.Retry = false
	o.Policies[recovery.ClassNetwork] = net
	s, _ := newSuite(t, o)
	res, err := s.RunScenarios(context.Background(), []string{"connection_failure"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Passed || !strings.Contains(res[0].Error, "does not retry") {
		t.Errorf("connection_failure with a non-retrying network policy = %+v", res[0])
	}

	o = fastAgent()
	o.Breaker.Threshold = 4
	s, _ = newSuite(t, o)
	res, err = s.RunScenarios(context.Background(), []string{"server_error_storm"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Passed || !strings.Contains(res[0].Details, "4 consecutive") {
		t.Errorf("server_error_storm with threshold 4 = %+v", res[0])
	}
	storm := Scenarios()[6]
	if got, fixed := storm.budget(s.agent.Options()), time.Duration(storm.DurationSeconds*float64(time.Second)); storm.ID != "server_error_storm" || got != fixed+o.Breaker.OpenTimeout {
		t.Errorf("%s budget %s, want %s plus the configured open_timeout", storm.ID, got, fixed)
	}
}
