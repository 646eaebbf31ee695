package workflow

import (
	"sort"
	"strings"
)

// tagSignals maps a tag to substrings of node types that signal it (research/comfyui.md §4.1).
var tagSignals = []struct {
	tag     string
	signals []string
}{
	{"video", []string{"LatentVideo", "ImageToVideo", "SVD_img2vid", "ImageOnlyCheckpointLoader", "ADE_", "WanVideo", "HyVideo", "LTXV", "VHS_VideoCombine", "SaveVideo", "CreateVideo", "SaveAnimatedWEBP", "SaveAnimatedPNG", "SaveWEBM", "VHS_LoadVideo", "LoadVideo", "AnimateDiff", "SVDModelLoader", "MagicAnimate"}},
	{"audio", []string{"LatentAudio", "SaveAudio", "LoadAudio", "StableAudio", "AceStep", "PreviewAudio"}},
	{"3d", []string{"Hunyuan3D", "SaveGLB", "Load3D", "Preview3D", "StableZero123"}},
	{"inpaint", []string{"VAEEncodeForInpaint", "InpaintModelConditioning", "SetLatentNoiseMask", "Inpaint", "INPAINT_"}},
	{"outpaint", []string{"ImagePadForOutpaint", "Outpaint"}},
	{"upscale", []string{"ImageUpscaleWithModel", "UpscaleModelLoader", "LatentUpscale", "UltimateSDUpscale", "Upscaler"}},
	{"controlnet", []string{"ControlNet", "ACN_", "Preprocessor", "T2IAdapter"}},
	{"lora", []string{"Lora", "LoRA"}},
	{"ipadapter", []string{"IPAdapter"}},
	{"faceid", []string{"InstantID", "PhotoMaker", "PuLID", "FaceID"}},
	{"image-edit", []string{"ImageEdit", "Kontext"}},
}

// foldedSignals are the tagSignals longer than 6 bytes, lowercased once: they also match a
// node type case-insensitively ("inpaint" in "INPAINT_...").
var foldedSignals = func() [][]string {
	out := make([][]string, len(tagSignals))
	for i, ts := range tagSignals {
		out[i] = make([]string, len(ts.signals))
		for j, s := range ts.signals {
			if len(s) > 6 {
				out[i][j] = strings.ToLower(s)
			}
		}
	}
	return out
}()

// apiVendors are prefixes of ComfyUI's paid partner ("API") nodes, which need no local model.
var apiVendors = []string{"ByteDance", "OpenAI", "Gemini", "Kling", "Luma", "Runway", "Recraft", "Ideogram", "Stability", "Minimax", "Pika", "Pixverse", "Veo", "Vidu", "Moonvalley", "Tripo", "Rodin", "Flux Pro", "FluxPro", "BFL", "Topaz", "Hailuo"}

// primaryOrder decides the spec's single workflow_type from the tags.
var primaryOrder = []string{"video", "audio", "3d", "inpaint", "img2img", "txt2img", "upscale", "controlnet", "api"}

func isSampler(t string) bool {
	return strings.Contains(t, "Sampler") && !strings.HasSuffix(t, "SamplerSelect") && !strings.HasPrefix(t, "ModelSampling")
}

// Classify tags a workflow from the types of its active nodes and returns the primary type.
func Classify(g *Graph, ix *ManagerIndex) (primary string, tags []string) {
	set := map[string]bool{}
	var sampler, emptyImage, vaeEncode, loadImage, api bool
	seen := map[string]bool{} // a workflow repeats node types; each type says the same once
	for _, n := range g.Nodes {
		if n.Inactive || n.Virtual || n.Instance || seen[n.Type] {
			continue
		}
		t := n.Type
		seen[t] = true
		lt := strings.ToLower(t)
		for i, ts := range tagSignals {
			for j, s := range ts.signals {
				if strings.Contains(t, s) || foldedSignals[i][j] != "" && strings.Contains(lt, foldedSignals[i][j]) {
					set[ts.tag] = true
					break
				}
			}
		}
		switch {
		case isSampler(t):
			sampler = true
		case strings.Contains(t, "Empty") && strings.Contains(t, "Latent") && !strings.Contains(t, "Video") && !strings.Contains(t, "Audio"):
			emptyImage = true
		case t == "VAEEncode" || t == "VAEEncodeTiled":
			vaeEncode = true
		case t == "LoadImage" || t == "LoadImageMask" || strings.HasPrefix(t, "LoadImage"):
			loadImage = true
		}
		for _, v := range apiVendors {
			if strings.HasPrefix(t, v) && (ix.IsCore(t) || strings.HasSuffix(t, "Node") || strings.Contains(t, "Node")) {
				api = true
			}
		}
	}
	if sampler && emptyImage {
		set["txt2img"] = true
	}
	if sampler && vaeEncode && loadImage && !set["inpaint"] {
		set["img2img"] = true
	}
	if set["image-edit"] && loadImage {
		set["img2img"] = true
	}
	if set["outpaint"] {
		set["inpaint"] = true
	}
	if api {
		set["api"] = true
	}
	if set["video"] {
		if loadImage {
			set["img2vid"] = true
		} else {
			set["txt2vid"] = true
		}
	}
	for t := range set {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	for _, p := range primaryOrder {
		if set[p] {
			return p, tags
		}
	}
	if len(tags) > 0 {
		return tags[0], tags
	}
	return "unknown", tags
}
