package models

import (
	"path"
	"sort"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
)

// Folder is one ComfyUI model folder key and the directories (relative to models_dir) that
// hold it; the table itself is comfy.Folders.
type Folder = comfy.Folder

// Extensions are the model file extensions the store indexes (comfy.ModelExtensions); configs/
// also holds .yaml.
var Extensions = comfy.ModelExtensions()

// Layout maps folder keys to directories of the store.
type Layout struct {
	folders []Folder
	byKey   map[string]Folder
	// dirs sorted longest first so "xlabs/loras" wins over a hypothetical "xlabs".
	dirs []dirKey
}

type dirKey struct{ dir, key string }

// NewLayout returns the built-in folders plus extra (custom pack folders from the config;
// an extra key that exists gets its directories appended).
func NewLayout(extra map[string][]string) *Layout {
	l := &Layout{byKey: map[string]Folder{}}
	add := func(f Folder) {
		if old, ok := l.byKey[f.Key]; ok {
			for _, d := range f.Dirs {
				if !contains(old.Dirs, d) {
					old.Dirs = append(old.Dirs, d)
				}
			}
			l.byKey[f.Key] = old
			for i := range l.folders {
				if l.folders[i].Key == f.Key {
					l.folders[i] = old
				}
			}
			return
		}
		f.Dirs = append([]string(nil), f.Dirs...)
		l.byKey[f.Key] = f
		l.folders = append(l.folders, f)
	}
	for _, f := range comfy.Folders() {
		add(f)
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(Folder{Key: k, Dirs: extra[k]})
	}
	seen := map[string]bool{}
	for _, f := range l.folders {
		for _, d := range f.Dirs {
			// A directory shared by several keys (unet_gguf) belongs to the first, canonical one.
			if !seen[d] {
				seen[d] = true
				l.dirs = append(l.dirs, dirKey{d, f.Key})
			}
		}
	}
	sort.SliceStable(l.dirs, func(i, j int) bool { return len(l.dirs[i].dir) > len(l.dirs[j].dir) })
	return l
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Folders returns every folder key in a stable order.
func (l *Layout) Folders() []Folder { return l.folders }

// Canonical resolves an alias to its folder key; ok is false for unknown keys.
func (l *Layout) Canonical(key string) (string, bool) {
	key = comfy.FolderAlias(key)
	_, ok := l.byKey[key]
	return key, ok
}

// Dir returns the download directory of a folder key (or alias).
func (l *Layout) Dir(key string) (string, bool) {
	k, ok := l.Canonical(key)
	if !ok {
		return "", false
	}
	return l.byKey[k].Dirs[0], true
}

// Dirs returns every directory of a folder key (or alias).
func (l *Layout) Dirs(key string) []string {
	k, ok := l.Canonical(key)
	if !ok {
		return nil
	}
	return l.byKey[k].Dirs
}

// FolderOf returns the folder key of a store-relative path ("clip/t5.safetensors" ->
// "text_encoders"), "other" when it lies in no known directory.
func (l *Layout) FolderOf(rel string) string {
	for _, d := range l.dirs {
		if strings.HasPrefix(rel, d.dir+"/") {
			return d.key
		}
	}
	return "other"
}

// HasModelExt reports whether name has a model extension (configs also take YAML).
func HasModelExt(name string) bool {
	if comfy.HasModelExt(name) {
		return true
	}
	ext := strings.ToLower(path.Ext(name))
	return ext == ".yaml" || ext == ".json"
}

// ExtraModelPathsYAML renders the extra_model_paths.yaml that points a ComfyUI at the shared
// store, with every folder of this layout (the built-in table plus configured ones).
func (l *Layout) ExtraModelPathsYAML(modelsDir string) []byte {
	return comfy.ExtraModelPathsYAML(modelsDir, l.folders)
}

// Split returns the folder key of a store-relative path and the name inside that folder
// ("xlabs/loras/a/b.safetensors" -> "xlabs_loras", "a/b.safetensors"); ("other", rel) when no
// folder matches.
func (l *Layout) Split(rel string) (key, name string) {
	for _, d := range l.dirs {
		if rest, ok := strings.CutPrefix(rel, d.dir+"/"); ok {
			return d.key, rest
		}
	}
	return "other", rel
}

// RefKey normalises a project's model reference "folder/name" (folder may be an alias or a
// directory; Windows separators allowed) to the key Split produces, "key/name".
func (l *Layout) RefKey(ref string) string {
	ref = strings.TrimPrefix(strings.ReplaceAll(ref, "\\", "/"), "/")
	if k, name := l.Split(ref); k != "other" {
		return k + "/" + name
	}
	folder, name, ok := strings.Cut(ref, "/")
	if !ok {
		return ref
	}
	if k, ok := l.Canonical(folder); ok {
		return k + "/" + name
	}
	return ref
}
