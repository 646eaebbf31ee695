package managerdata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/atomicfile"
)

// metaFile records, next to the cached files, when and from where each one was obtained: the
// cache's age comes from this record, never from file modification times (a copy, a restore
// from backup or a clock change would move those).
const metaFile = "meta.json"

// fileMeta is one file's record in meta.json.
type fileMeta struct {
	FetchedAt time.Time `json:"fetched_at"`
	// Source is the URL it was fetched from, or "import:<dir or URL>" / "seed:<dir>".
	Source string `json:"source"`
}

type cacheMeta struct {
	Files map[string]fileMeta `json:"files"`
}

func readMeta(dir string) (cacheMeta, error) { return readMetaFS(os.DirFS(dir), dir) }

// readMetaFS reads the meta.json of fsys; where names fsys in errors.
func readMetaFS(fsys fs.FS, where string) (cacheMeta, error) {
	m := cacheMeta{Files: map[string]fileMeta{}}
	b, err := fs.ReadFile(fsys, metaFile)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return cacheMeta{Files: map[string]fileMeta{}}, fmt.Errorf("read %s: %w", filepath.Join(where, metaFile), err)
	}
	if m.Files == nil {
		m.Files = map[string]fileMeta{}
	}
	return m, nil
}

func writeMeta(dir string, m cacheMeta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, metaFile), b, 0o644)
}
