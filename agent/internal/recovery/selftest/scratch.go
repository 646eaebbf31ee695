package selftest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// scratch is a directory of on-disk stores and download directories for one scenario run:
// scenarios persist through the real nutsdb store and download into real files, as the agent
// does, and the directory is removed when the run ends.
type scratch struct {
	root string
	mu   sync.Mutex
	open []*store.DB
	n    int
}

func newScratch(parent string) (*scratch, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create scratch dir: %w", err)
	}
	dir, err := os.MkdirTemp(parent, "recovery-scenarios-")
	if err != nil {
		return nil, fmt.Errorf("create scratch dir: %w", err)
	}
	return &scratch{root: dir}, nil
}

// store opens a fresh store in a new subdirectory.
func (s *scratch) store() (*store.DB, error) {
	s.mu.Lock()
	s.n++
	dir := filepath.Join(s.root, fmt.Sprintf("db%d", s.n))
	s.mu.Unlock()
	return s.openAt(dir)
}

// dir creates a new subdirectory named after kind.
func (s *scratch) dir(kind string) (string, error) {
	s.mu.Lock()
	s.n++
	dir := filepath.Join(s.root, fmt.Sprintf("%s%d", kind, s.n))
	s.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create scratch dir: %w", err)
	}
	return dir, nil
}

func (s *scratch) openAt(dir string) (*store.DB, error) {
	db, err := store.Open(dir, nil)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.open = append(s.open, db)
	s.mu.Unlock()
	return db, nil
}

// crashImage copies db's files as they are on disk right now, the way a kill -9 leaves them
// (nothing flushed or closed on the way out), and opens the copy as a new store. A torn tail
// is salvaged by store.Open exactly as after a real crash.
func (s *scratch) crashImage(db *store.DB) (*store.DB, error) {
	s.mu.Lock()
	s.n++
	dst := filepath.Join(s.root, fmt.Sprintf("db%d-after-crash", s.n))
	s.mu.Unlock()
	err := filepath.WalkDir(db.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(db.Dir(), path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, target)
	})
	if err != nil {
		return nil, fmt.Errorf("copy the store as a crash left it: %w", err)
	}
	return s.openAt(dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// close closes every store and removes the directory.
func (s *scratch) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, db := range s.open {
		_ = db.Close()
	}
	_ = os.RemoveAll(s.root)
}
