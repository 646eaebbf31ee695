package models

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// tree is the store's directory and the one place that decides whether a path stays inside
// it. Every read, write, delete and link of the store goes through storePath (client-supplied
// names) or escapes (paths the store built itself, such as the .partial staging files).
type tree struct {
	root string
	// partDir is .partial, the staging folder of downloads and links.
	partDir string
}

// abs is the absolute path of a store-relative path already validated.
func (t *tree) abs(rel string) string { return filepath.Join(t.root, filepath.FromSlash(rel)) }

// partPath is the partial file of download operation opID.
func (t *tree) partPath(opID string) string { return filepath.Join(t.partDir, opID+".part") }

// storePath validates a store-relative path from a client, a workflow or a source and returns
// it cleaned and absolute. It refuses with 400 InvalidPathError, naming the path and why,
// absolute paths, "..", hidden segments and any path whose existing part leads outside the
// store through a symlink. The file itself need not exist.
func (t *tree) storePath(raw string) (rel, abs string, err error) {
	rel, cerr := cleanRel(raw)
	if cerr != nil {
		return "", "", badPath(raw, cerr.Error())
	}
	abs = t.abs(rel)
	if why := t.escapes(abs, false); why != "" {
		return "", "", badPath(raw, why)
	}
	return rel, abs, nil
}

func badPath(raw, why string) *apierr.Error {
	return apierr.Newf(apierr.Invalid, "InvalidPathError", "model path %q is not allowed: %s", raw, why).
		Suggest("Use a path inside the model store, e.g. checkpoints/model.safetensors (GET /api/models lists them)",
			"The agent neither reads nor writes through a symlink that leads outside paths.models_dir: "+
				"bind-mount the folder inside the store, or point paths.models_dir at it")
}

// escapes says why abs, a path below the store root, would lead outside the store ("" when
// it does not). Every existing component is checked: a symlink must resolve inside the store
// (and outside .partial unless staging is set). The walk ends at the first component that does
// not exist yet, since whatever the agent creates there is created inside. A dangling symlink is
// refused except as the last component of a store path, which a rename replaces and a delete
// removes (a staging file is opened for writing, which would follow it).
func (t *tree) escapes(abs string, staging bool) string {
	root, err := filepath.EvalSymlinks(t.root)
	if err != nil {
		return fmt.Sprintf("the model store %s cannot be resolved: %v", t.root, err)
	}
	rel, ok := below(t.root, abs)
	if !ok {
		return "it is not below the model store"
	}
	if rel == "." {
		return ""
	}
	segs := strings.Split(rel, string(filepath.Separator))
	p := t.root
	for i, seg := range segs {
		p = filepath.Join(p, seg)
		shown := filepath.ToSlash(filepath.Join(segs[:i+1]...))
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return ""
		}
		if err != nil {
			return fmt.Sprintf("%s cannot be checked: %v", shown, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue // a plain entry of a directory already known to be inside
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			if i == len(segs)-1 && !staging {
				return ""
			}
			return fmt.Sprintf("%s is a symlink that points nowhere", shown)
		}
		if !inside(root, real, staging) {
			return fmt.Sprintf("%s is a symlink to %s, outside the model store", shown, real)
		}
	}
	return ""
}

// inside reports whether the resolved path real lies within the resolved store root, and
// outside its .partial staging folder unless staging is set.
func inside(root, real string, staging bool) bool {
	rel, ok := below(root, real)
	if !ok {
		return false
	}
	return staging || (rel != ".partial" && !strings.HasPrefix(rel, ".partial"+string(filepath.Separator)))
}

// stagingPath checks a file of the .partial folder (a download's partial, a link's
// temporary) before the store writes it: .partial itself must not lead outside the store.
func (t *tree) stagingPath(abs string) error {
	if why := t.escapes(abs, true); why != "" {
		return fmt.Errorf("staging file %s is not allowed: %s", filepath.Base(abs), why)
	}
	return nil
}

// below returns p relative to base, and whether p is base or lies under it (lexically).
func below(base, p string) (string, bool) {
	rel, err := filepath.Rel(base, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// cleanRel validates a store-relative name: no absolute paths, no "..", no hidden segments.
func cleanRel(name string) (string, error) {
	name = strings.ReplaceAll(name, "\\", "/") // workflows saved on Windows
	if name == "" {
		return "", errors.New("empty path")
	}
	if strings.HasPrefix(name, "/") || filepath.IsAbs(name) || (len(name) > 1 && name[1] == ':') {
		return "", errors.New("absolute paths are not allowed")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return "", errors.New("\"..\" is not allowed")
		}
		if strings.HasPrefix(seg, ".") && seg != "." {
			return "", errors.New("hidden path segments are not allowed")
		}
		if strings.ContainsRune(seg, 0) {
			return "", errors.New("NUL in path")
		}
	}
	c := path.Clean(name)
	if c == "." || c == "" {
		return "", errors.New("empty path")
	}
	return c, nil
}
