package workflow

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/managerdata"
)

// sharedCorpus is the team's shared corpus, a sibling of the repository.
const sharedCorpus = "../../../../shared/corpus"

func corpusDir(t testing.TB, sub string) string {
	t.Helper()
	d := filepath.Join(sharedCorpus, sub)
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared corpus %s not present (%v); these cases need the repository's sibling shared/ folder", d, err)
	}
	return d
}

var (
	corpusManagerOnce sync.Once
	corpusManager     *managerdata.Data
)

// seededManager returns Manager data seeded from the shared corpus (loaded once per test binary:
// the files are 7 MB).
func seededManager(t testing.TB) *managerdata.Data {
	t.Helper()
	dir := corpusDir(t, "manager")
	corpusManagerOnce.Do(func() {
		m := managerdata.New(managerdata.Options{SeedDir: dir})
		if err := m.Load(context.Background()); err != nil {
			t.Fatalf("load manager data: %v", err)
		}
		corpusManager = m
	})
	return corpusManager
}
