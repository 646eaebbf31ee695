package bind

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// openDB opens the store under data/db, closed when the test ends.
func openDB(t *testing.T, data string) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(data, "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
