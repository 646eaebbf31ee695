package project

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkInstall measures create -> ready of a plain ComfyUI project from the local
// fixture: git clone, python -m venv, pip install -r of an empty requirements.txt, the
// extra_model_paths.yaml. Run:
//
//	go test ./agent/internal/project -run '^$' -bench Install -benchtime 3x
func BenchmarkInstall(b *testing.B) {
	h := newHarness(b, func(o *Options) { o.Python = "python3" }) // measure the real venv step
	b.ResetTimer()
	for i := range b.N {
		p, err := h.m.Create(context.Background(), CreateRequest{Name: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if p = waitSettled(b, h.m, p.ID); p.State != StateReady {
			b.Fatalf("state %s: %+v", p.State, p.Failure)
		}
	}
}
