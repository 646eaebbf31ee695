package recovery

import (
	"context"
	"testing"
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

var errDiskFullForTest = &diskFull{}

type diskFull struct{}

func (*diskFull) Error() string { return "no space left on device" }
