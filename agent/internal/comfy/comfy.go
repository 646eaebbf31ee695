// Package comfy holds facts about ComfyUI that several packages need: its model folder table
// (folder_paths.py), the legacy folder names it still accepts, ComfyUI-Manager's model type to
// folder map, and the model file extensions. It is a leaf: it imports nothing of the agent, so
// the model store, the workflow parser and the model sources share one table.
package comfy

import (
	"net/url"
	"path"
	"strings"
)

// Folder is one ComfyUI model folder key and the directories (relative to models_dir) that
// hold it. The first directory is where downloads go.
type Folder struct {
	Key  string   `json:"key"`
	Dirs []string `json:"dirs"`
}

// folders are folder_paths.py's keys (research/comfyui.md §1.5) plus the custom packs' keys. The
// download target of diffusion_models and text_encoders is the modern name; the legacy
// directories (unet, clip, t2i_adapter) are still searched.
var folders = []Folder{
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
	// Custom node packs (research/comfyui.md §1.5).
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

// Folders returns a copy of the built-in folder table in its stable order.
func Folders() []Folder {
	out := make([]Folder, len(folders))
	for i, f := range folders {
		out[i] = Folder{Key: f.Key, Dirs: append([]string(nil), f.Dirs...)}
	}
	return out
}

// legacyFolders are the old folder keys ComfyUI maps to current ones (folder_paths.map_legacy).
var legacyFolders = map[string]string{"clip": "text_encoders", "unet": "diffusion_models", "t2i_adapter": "controlnet"}

// singularFolders are the singular spellings users and ComfyUI-Manager's types use for a key.
var singularFolders = map[string]string{
	"checkpoint": "checkpoints", "lora": "loras", "embedding": "embeddings", "upscale": "upscale_models",
	"diffusion_model": "diffusion_models",
}

// CanonicalFolder maps a legacy folder key ("clip", "unet", "t2i_adapter") to its current name;
// other keys come back unchanged (with Windows separators and surrounding slashes removed).
func CanonicalFolder(key string) string {
	key = strings.Trim(strings.ReplaceAll(key, "\\", "/"), "/")
	if c, ok := legacyFolders[key]; ok {
		return c
	}
	return key
}

// FolderAlias resolves a folder key a user may write (legacy or singular, any case) to the
// table's key; unknown keys come back lower-cased and trimmed.
func FolderAlias(key string) string {
	key = strings.TrimSpace(strings.ToLower(key))
	if c, ok := legacyFolders[key]; ok {
		return c
	}
	if c, ok := singularFolders[key]; ok {
		return c
	}
	return key
}

// managerTypeFolders is ComfyUI-Manager's model_dir_name_map (glob/manager_server.py): the
// folder of a model-list.json entry whose save_path is "default".
var managerTypeFolders = map[string]string{
	"checkpoint": "checkpoints", "checkpoints": "checkpoints", "unclip": "checkpoints",
	"text_encoders": "text_encoders", "clip": "text_encoders", "vae": "vae", "lora": "loras",
	"t2i-adapter": "controlnet", "t2i-style": "controlnet", "controlnet": "controlnet",
	"clip_vision": "clip_vision", "gligen": "gligen", "upscale": "upscale_models",
	"embedding": "embeddings", "embeddings": "embeddings", "unet": "diffusion_models",
	"diffusion_model": "diffusion_models",
}

// ManagerTypeFolder is the folder ComfyUI-Manager installs a model of this type into when its
// save_path is "default"; "etc" for types it does not map, as the Manager does.
func ManagerTypeFolder(modelType string) string {
	if f := managerTypeFolders[strings.ToLower(modelType)]; f != "" {
		return f
	}
	return "etc"
}

// modelExtensions are ComfyUI's supported_pt_extensions plus GGUF and ONNX.
var modelExtensions = []string{".safetensors", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl", ".sft", ".gguf", ".onnx"}

// ModelExtensions returns the model file extensions, lower case with the dot.
func ModelExtensions() []string { return append([]string(nil), modelExtensions...) }

// HasModelExt reports whether name ends in a model file extension (any case).
func HasModelExt(name string) bool {
	if len(name) > 16 {
		name = name[len(name)-16:] // only the tail matters; workflow values may be long prompts
	}
	l := strings.ToLower(name)
	for _, e := range modelExtensions {
		if strings.HasSuffix(l, e) {
			return true
		}
	}
	return false
}

// URLFileName is the name a model file downloaded from rawURL is stored under: the last
// segment of the URL's path, unescaped ("" when there is none). ComfyUI-Manager names its
// "<huggingface>" model-list entries this way.
func URLFileName(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	b := path.Base(u.Path)
	if b == "." || b == "/" {
		return ""
	}
	return b
}
