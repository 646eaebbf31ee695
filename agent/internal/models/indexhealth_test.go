package models

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// flakyKV is a KV whose writes fail while failing is set; reads find nothing.
type flakyKV struct{ failing bool }

var errKVDown = errors.New("store unavailable (injected)")

func (k *flakyKV) Put(string, string, any) error {
	if k.failing {
		return errKVDown
	}
	return nil
}
func (k *flakyKV) Get(string, string, any) error { return store.ErrNotFound }
func (k *flakyKV) Delete(string, string) error {
	if k.failing {
		return errKVDown
	}
	return store.ErrNotFound // never persisted: not a failure
}
func (k *flakyKV) Scan(string, string, func(string, []byte) error) error { return nil }
func (k *flakyKV) EnsureBuckets(...string) error                         { return nil }

// TestIndexWriteFailuresAreReported: a failed write of the model index is logged once per
// streak and shown by health until a write succeeds; deleting an entry that was never
// persisted is no failure.
func TestIndexWriteFailuresAreReported(t *testing.T) {
	kv := &flakyKV{failing: true}
	ix, err := newIndex(t.TempDir(), NewLayout(nil), kv)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ix.persist.log = slog.New(slog.NewTextHandler(&logs, nil))
	ix.persist.put(&Entry{Path: "checkpoints/a.safetensors"})
	ix.persist.put(&Entry{Path: "checkpoints/b.safetensors"})
	if n := strings.Count(logs.String(), "model index not persisted"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
	if ok, d := ix.persist.health(); ok || !strings.Contains(d["error"].(string), "injected") {
		t.Fatalf("health = %v %v", ok, d)
	}
	kv.failing = false
	ix.remove("checkpoints/never-stored.safetensors")
	if ok, d := ix.persist.health(); !ok {
		t.Fatalf("health after a good write = %v", d)
	}
}
