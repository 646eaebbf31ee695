package recovery

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSelfTestPasses(t *testing.T) {
	h := newHarness(t, Options{})
	for _, c := range h.r.SelfTest(context.Background()) {
		t.Run(c.Name, func(t *testing.T) {
			if !c.Passed {
				t.Fatalf("%s failed: %s", c.Name, c.Details)
			}
		})
	}
}

func TestSelfTestDetectsBrokenPersistence(t *testing.T) {
	h := newHarness(t, Options{})
	h.db.mu.Lock()
	h.db.failPut = errDiskFullForTest
	h.db.mu.Unlock()
	res := h.r.SelfTest(context.Background())
	if res[0].Name != "persistence_test" || res[0].Passed {
		t.Fatalf("persistence check passed with a failing store: %+v", res[0])
	}
}

func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("runs loopback scenarios")
	}
	scratch := t.TempDir()
	h := newHarness(t, fastAgent(scratch))
	res, err := h.r.RunScenarios(context.Background(), nil, 2*time.Minute)
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

var errDiskFullForTest = &diskFull{}

type diskFull struct{}

func (*diskFull) Error() string { return "no space left on device" }

// fastAgent is an agent configured with millisecond backoff and a quick breaker: the
// scenarios run with the agent's own policies, so this keeps them well under a second each.
func fastAgent(scratch string) Options {
	pol := DefaultPolicies()
	for c, p := range pol {
		if p.Retry {
			p.BaseDelay, p.MaxDelay = 5*time.Millisecond, 40*time.Millisecond
			pol[c] = p
		}
	}
	return Options{Policies: pol, ScratchDir: scratch, MaxRetryAfter: 2 * time.Second,
		Breaker: BreakerOptions{Threshold: 3, OpenTimeout: 150 * time.Millisecond, HalfOpenMax: 1}}
}

// TestScenariosUseConfiguredPolicies: the scenarios measure the agent as configured, so a
// policy that does not retry makes the recovery scenario fail, and the breaker scenario trips
// at the configured threshold.
func TestScenariosUseConfiguredPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs loopback scenarios")
	}
	t.Parallel()
	o := fastAgent(t.TempDir())
	net := o.Policies[ClassNetwork]
	net.Retry = false
	o.Policies[ClassNetwork] = net
	res, err := newHarness(t, o).r.RunScenarios(context.Background(), []string{"connection_failure"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Passed || !strings.Contains(res[0].Error, "does not retry") {
		t.Errorf("connection_failure with a non-retrying network policy = %+v", res[0])
	}

	o = fastAgent(t.TempDir())
	o.Breaker.Threshold = 4
	h := newHarness(t, o)
	res, err = h.r.RunScenarios(context.Background(), []string{"server_error_storm"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Passed || !strings.Contains(res[0].Details, "4 consecutive") {
		t.Errorf("server_error_storm with threshold 4 = %+v", res[0])
	}
	storm := Scenarios()[6]
	if got, fixed := storm.budget(h.r.Options()), time.Duration(storm.DurationSeconds*float64(time.Second)); storm.ID != "server_error_storm" || got != fixed+o.Breaker.OpenTimeout {
		t.Errorf("%s budget %s, want %s plus the configured open_timeout", storm.ID, got, fixed)
	}
}
