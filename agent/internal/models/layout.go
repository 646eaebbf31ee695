package models

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Folder is one ComfyUI model folder key and the directories (relative to models_dir) that
// hold it. The first directory is where downloads go.
type Folder struct {
	Key  string   `json:"key"`
	Dirs []string `json:"dirs"`
}

// builtinFolders are folder_paths.py's keys (comfyui.md §1.5) plus the custom packs' keys. The
// download target of diffusion_models and text_encoders is the modern name; the legacy
// directories (unet, clip, t2i_adapter) are still searched.
var builtinFolders = []Folder{
	{"checkpoints", []string{"checkpoints"}},
	{"configs", []string{"configs"}},
	{"loras", []string{"loras"}},
	{"vae", []string{"vae"}},
	{"text_encoders", []string{"text_encoders", "clip"}},
	{"diffusion_models", []string{"diffusion_models", "unet"}},
	{"clip_vision", []string{"clip_vision"}},
	{"style_models", []string{"style_models"}},
	{"embeddings", []string{"embeddings"}},
	{"diffusers", []string{"diffusers"}},
	{"vae_approx", []string{"vae_approx"}},
	{"controlnet", []string{"controlnet", "t2i_adapter"}},
	{"gligen", []string{"gligen"}},
	{"upscale_models", []string{"upscale_models"}},
	{"latent_upscale_models", []string{"latent_upscale_models"}},
	{"hypernetworks", []string{"hypernetworks"}},
	{"photomaker", []string{"photomaker"}},
	{"classifiers", []string{"classifiers"}},
	{"model_patches", []string{"model_patches"}},
	{"audio_encoders", []string{"audio_encoders"}},
	// Custom node packs (comfyui.md §1.5).
	{"ipadapter", []string{"ipadapter"}},
	{"instantid", []string{"instantid"}},
	{"insightface", []string{"insightface"}},
	{"animatediff_models", []string{"animatediff_models"}},
	{"animatediff_motion_lora", []string{"animatediff_motion_lora"}},
	{"unet_gguf", []string{"diffusion_models", "unet"}},
	{"clip_gguf", []string{"text_encoders", "clip"}},
	{"xlabs_loras", []string{"xlabs/loras"}},
	{"xlabs_controlnets", []string{"xlabs/controlnets"}},
	{"xlabs_ipadapters", []string{"xlabs/ipadapters"}},
	{"sams", []string{"sams"}},
	{"onnx", []string{"onnx"}},
	{"mmdets_bbox", []string{"mmdets/bbox"}},
	{"mmdets_segm", []string{"mmdets/segm"}},
	{"ultralytics_bbox", []string{"ultralytics/bbox"}},
	{"ultralytics_segm", []string{"ultralytics/segm"}},
	{"ultralytics", []string{"ultralytics"}},
}

// aliases are legacy folder keys ComfyUI still accepts (map_legacy) and Manager's type names.
var aliases = map[string]string{
	"clip":            "text_encoders",
	"unet":            "diffusion_models",
	"t2i_adapter":     "controlnet",
	"checkpoint":      "checkpoints",
	"lora":            "loras",
	"embedding":       "embeddings",
	"upscale":         "upscale_models",
	"diffusion_model": "diffusion_models",
}

// Extensions are the model file extensions the store indexes (supported_pt_extensions plus
// GGUF and ONNX). configs/ also holds .yaml.
var Extensions = []string{".safetensors", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".sft", ".gguf", ".onnx", ".pkl"}

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
	for _, f := range builtinFolders {
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
	key = strings.TrimSpace(strings.ToLower(key))
	if a, ok := aliases[key]; ok {
		key = a
	}
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
	ext := strings.ToLower(path.Ext(name))
	for _, e := range Extensions {
		if e == ext {
			return true
		}
	}
	return ext == ".yaml" || ext == ".json"
}

// ExtraModelPathsYAML renders an extra_model_paths.yaml section that points a ComfyUI at the
// shared store: every folder key with all its directories, as comfyui.md §1.6 describes.
func (l *Layout) ExtraModelPathsYAML(modelsDir string) []byte {
	var b strings.Builder
	b.WriteString("# Generated by the launcher: the shared model store. Do not edit; it is rewritten.\n")
	b.WriteString("launcher_shared_store:\n")
	fmt.Fprintf(&b, "  base_path: %s\n", yamlString(modelsDir))
	for _, f := range l.folders {
		if len(f.Dirs) == 1 {
			fmt.Fprintf(&b, "  %s: %s\n", f.Key, yamlString(f.Dirs[0]))
			continue
		}
		fmt.Fprintf(&b, "  %s: |\n", f.Key)
		for _, d := range f.Dirs {
			fmt.Fprintf(&b, "    %s\n", d)
		}
	}
	return []byte(b.String())
}

// yamlString quotes s when plain YAML would misread it.
func yamlString(s string) string {
	if s == "" || strings.ContainsAny(s, ":#'\"{}[],&*!|>%@`\n") || strings.TrimSpace(s) != s {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return s
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
