package models

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// BenchmarkIndex10k measures a full scan of a store with 10,000 model files spread over the
// folder layout (stat and reconcile; hashing runs in the background and is not included).
func BenchmarkIndex10k(b *testing.B) {
	root := b.TempDir()
	folders := []string{"checkpoints", "loras", "vae", "clip", "unet", "controlnet", "embeddings", "upscale_models", "ipadapter", "misc"}
	for i := 0; i < 10000; i++ {
		dir := filepath.Join(root, folders[i%len(folders)], fmt.Sprintf("sub%02d", i%50))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%05d.safetensors", i)), []byte("x"), 0o644)
	}
	layout := NewLayout(nil)
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ix, _ := newIndex(root, layout, nil)
			if err := ix.scan(); err != nil {
				b.Fatal(err)
			}
			if len(ix.entries) != 10000 {
				b.Fatalf("indexed %d files", len(ix.entries))
			}
		}
	})
	b.Run("rescan", func(b *testing.B) {
		ix, _ := newIndex(root, layout, nil)
		ix.scan()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ix.scan()
		}
	})
}

// BenchmarkIndex10kStore is the cold scan persisting the index to a real nutsdb store.
func BenchmarkIndex10kStore(b *testing.B) {
	root := b.TempDir()
	for i := 0; i < 10000; i++ {
		dir := filepath.Join(root, "loras", fmt.Sprintf("sub%02d", i%50))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%05d.safetensors", i)), []byte("x"), 0o644)
	}
	for i := 0; i < b.N; i++ {
		db, err := store.Open(filepath.Join(b.TempDir(), "db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		ix, err := newIndex(root, NewLayout(nil), db)
		if err != nil {
			b.Fatal(err)
		}
		if err := ix.scan(); err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
