package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

func notFoundModel(rel string) error {
	return apierr.Newf(apierr.NotFound, "ModelNotFoundError", "model %s not found", rel).
		Suggest("List models with GET /api/models; paths look like checkpoints/model.safetensors")
}

// existing validates a client-supplied path of an existing model: 400 for anything storePath
// refuses and for directories, 404 when nothing is there.
func (t *tree) existing(raw string) (rel, abs string, err error) {
	rel, abs, err = t.storePath(raw)
	if err != nil {
		return "", "", err
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return "", "", notFoundModel(rel)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		fi, err = os.Stat(abs)
		if err != nil {
			return rel, abs, nil // a dangling symlink inside the store: it can be deleted
		}
	}
	if fi.IsDir() {
		return "", "", badPath(raw, "it is a directory; delete the files inside it")
	}
	return rel, abs, nil
}

// Delete removes a model unless a project uses it (force overrides).
func (s *Storage) Delete(raw string, force bool) (string, error) {
	rel, abs, err := s.tree.existing(raw)
	if err != nil {
		return "", err
	}
	e, _ := s.ix.get(rel)
	if e.Path == "" {
		e = Entry{Path: rel}
	}
	if projects := s.use.usedBy([]Entry{e})[rel]; len(projects) > 0 && !force {
		return "", apierr.New(apierr.Conflict, "ModelInUseError", "Model is in use by projects",
			"Remove the model from those projects first", "Or delete anyway with ?force=true").With("projects", projects)
	}
	if err := os.Remove(abs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", notFoundModel(rel)
		}
		return "", apierr.Wrap(apierr.Internal, "DeleteError", err, fmt.Sprintf("delete %s: %v", rel, err), "Check the file's permissions")
	}
	if d, err := os.Open(filepath.Dir(abs)); err == nil {
		d.Sync()
		d.Close()
	}
	s.ix.remove(rel)
	return rel, nil
}
