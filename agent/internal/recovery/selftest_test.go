package recovery

import (
	"context"
	"os"
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
	h := newHarness(t, Options{ScratchDir: scratch})
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
