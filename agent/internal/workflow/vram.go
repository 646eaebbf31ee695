package workflow

import (
	"math"
	"regexp"
	"strings"
)

// VRAMEstimate explains estimated_vram (see the package documentation for the method).
type VRAMEstimate struct {
	// EstimatedMB: all weights resident + activation margin + overhead.
	EstimatedMB int64 `json:"estimated_mb"`
	// MinimumMB: the largest single stage + overhead; below it ComfyUI runs only with offload.
	MinimumMB    int64 `json:"minimum_mb"`
	WeightsMB    int64 `json:"weights_mb"`
	ActivationMB int64 `json:"activation_mb"`
	DecodeMB     int64 `json:"decode_mb"`
	OverheadMB   int64 `json:"overhead_mb"`
	// StagesMB: resident weights per stage (text, sample, decode, other).
	StagesMB map[string]int64 `json:"stages_mb"`
	Family   string           `json:"family"`
	Width    int              `json:"width"`
	Height   int              `json:"height"`
	Frames   int              `json:"frames"`
	Batch    int              `json:"batch"`
	// UnknownSizes lists models whose size is unknown (not counted).
	UnknownSizes []string `json:"unknown_sizes,omitempty"`
}

// overheadMB is ComfyUI's minimum_inference_memory (0.8 GB) plus the default reserve (0.4 GB).
const overheadMB = 1229

type family struct {
	name    string
	re      *regexp.Regexp
	factor  float64 // comfy/supported_models.py memory_usage_factor
	spatial int     // latent downscale
	tempo   int     // latent frame compression (video)
}

// families are tried in order on model file names and node types.
var families = []family{
	{"ltxv", regexp.MustCompile(`(?i)ltx`), 5.5, 32, 8},
	{"wan", regexp.MustCompile(`(?i)wan2|wan_2|wanvideo|\bwan\b`), 0.9, 8, 4},
	{"hunyuan_video", regexp.MustCompile(`(?i)hunyuan.?video|hyvideo|hunyuan_video`), 1.8, 8, 4},
	{"qwen_image", regexp.MustCompile(`(?i)qwen`), 1.8, 8, 1},
	{"chroma", regexp.MustCompile(`(?i)chroma`), 3.2, 8, 1},
	{"flux", regexp.MustCompile(`(?i)flux`), 3.1, 8, 1},
	{"sd3", regexp.MustCompile(`(?i)sd3|sd_3|stable.?diffusion.?3`), 1.2, 8, 1},
	{"ace_step", regexp.MustCompile(`(?i)ace.?step`), 0.5, 8, 1},
	{"mochi", regexp.MustCompile(`(?i)mochi`), 2.0, 8, 6},
	{"cosmos", regexp.MustCompile(`(?i)cosmos`), 1.6, 8, 8},
	{"svd", regexp.MustCompile(`(?i)\bsvd|stable.?video`), 1.0, 8, 1},
	{"sdxl", regexp.MustCompile(`(?i)sd_?xl`), 0.8, 8, 1},
	{"sd15", regexp.MustCompile(`(?i)v1-5|sd_?v?15|sd1\.5|sd-1\.5|v1_5`), 1.0, 8, 1},
	{"sd2", regexp.MustCompile(`(?i)v2-1|sd2|sd_2`), 1.0, 8, 1},
	{"sdxl", regexp.MustCompile(`(?i)xl_|_xl|xl\b|juggernautxl|pony|illustrious|kolors`), 0.8, 8, 1},
	{"sd15", regexp.MustCompile(`(?i)1\.5|dreamshaper|realistic|anything`), 1.0, 8, 1},
}

var stageOf = map[string]string{
	"text_encoders": "text", "clip_vision": "text", "audio_encoders": "text", "embeddings": "text",
	"vae": "decode", "vae_approx": "decode", "upscale_models": "decode",
	"checkpoints": "sample", "diffusion_models": "sample", "loras": "sample", "controlnet": "sample",
	"ipadapter": "sample", "instantid": "sample", "animatediff_models": "sample", "animatediff_motion_lora": "sample",
	"model_patches": "sample", "style_models": "sample", "gligen": "sample", "photomaker": "sample",
	"hypernetworks": "sample", "xlabs_loras": "sample", "xlabs_controlnets": "sample", "xlabs_ipadapters": "sample",
	"inpaint": "sample", "latent_upscale_models": "sample", "unet_gguf": "sample",
}

// EstimateVRAM computes the estimate from the active models (Size = resident bytes, 0 unknown)
// and the latent size read from the graph.
func EstimateVRAM(g *Graph, models []ModelRef) VRAMEstimate {
	est := VRAMEstimate{StagesMB: map[string]int64{}}
	var weights int64
	for _, m := range models {
		if m.Inactive || m.AutoDownload || m.Directory {
			continue
		}
		if m.Size <= 0 {
			est.UnknownSizes = append(est.UnknownSizes, m.Folder+"/"+m.Filename)
			continue
		}
		stage := stageOf[m.Folder]
		if stage == "" {
			stage = "other"
		}
		mb := m.Size / (1 << 20)
		est.StagesMB[stage] += mb
		weights += mb
	}
	est.WeightsMB = weights
	fam := detectFamily(g, models)
	est.Family = fam.name
	w, h, frames, batch := latentSize(g, fam)
	est.Width, est.Height, est.Frames, est.Batch = w, h, frames, batch
	lw, lh := float64(w/fam.spatial), float64(h/fam.spatial)
	lt := 1.0
	if frames > 1 && fam.tempo > 1 {
		lt = float64((frames-1)/fam.tempo + 1)
	}
	area := 2 * float64(batch) * lw * lh * lt
	est.ActivationMB = int64(math.Ceil(area * 2 * 0.01 * fam.factor))
	// VAE decode: 2178 * latent h * w * 64 * 2 bytes, capped because ComfyUI tiles when short.
	dec := 2178 * float64(h/8) * float64(w/8) * 64 * 2 / (1 << 20)
	est.DecodeMB = int64(math.Min(dec, 2048))
	if weights == 0 {
		// Nothing local to load (API nodes only, or nothing known): no meaningful estimate.
		if len(est.UnknownSizes) == 0 {
			est.ActivationMB, est.DecodeMB = 0, 0
			return est
		}
	}
	est.OverheadMB = overheadMB
	peak := est.StagesMB["text"]
	if s := est.StagesMB["sample"] + est.ActivationMB; s > peak {
		peak = s
	}
	if d := est.StagesMB["decode"] + est.DecodeMB; d > peak {
		peak = d
	}
	if o := est.StagesMB["other"]; o > peak {
		peak = o
	}
	est.MinimumMB = peak + overheadMB
	est.EstimatedMB = weights + max(est.ActivationMB, est.DecodeMB) + overheadMB
	return est
}

func detectFamily(g *Graph, models []ModelRef) family {
	// Diffusion weights name the family best; then any model; then node types.
	var names []string
	for _, pass := range []string{"sample", ""} {
		for _, m := range models {
			if m.Inactive {
				continue
			}
			if pass == "sample" && stageOf[m.Folder] != "sample" {
				continue
			}
			names = append(names, m.Filename)
		}
	}
	for _, n := range g.Nodes {
		if !n.Inactive && !n.Virtual {
			names = append(names, n.Type)
		}
	}
	for _, name := range names {
		for _, f := range families {
			if f.re.MatchString(name) {
				return f
			}
		}
	}
	return family{"unknown", nil, 1.0, 8, 1}
}

// latentSize reads width, height, frames and batch from the first active latent source.
func latentSize(g *Graph, fam family) (w, h, frames, batch int) {
	w, h, frames, batch = firstLatent(g, fam)
	// AnimateDiff samples its batch (= frames) in context windows, 16 frames by default.
	if batch > 16 {
		for _, n := range g.Nodes {
			if !n.Inactive && strings.Contains(n.Type, "ContextOptions") {
				batch = 16
				break
			}
		}
	}
	return w, h, frames, batch
}

func firstLatent(g *Graph, fam family) (w, h, frames, batch int) {
	for _, n := range g.Nodes {
		if n.Inactive || n.Virtual {
			continue
		}
		t := n.Type
		latent := strings.Contains(t, "Latent") && strings.HasPrefix(t, "Empty") || strings.HasSuffix(t, "ImageToVideo") ||
			strings.Contains(t, "EmptyEmbeds") || strings.HasSuffix(t, "img2vid_Conditioning")
		if !latent {
			continue
		}
		w, h = intOf(n, "width", 0), intOf(n, "height", 1)
		if w < 16 || h < 16 || w > 16384 || h > 16384 {
			continue
		}
		video := strings.Contains(t, "Video") || strings.Contains(t, "Embeds") || strings.Contains(t, "img2vid")
		if video {
			frames = intOf(n, "length", 2)
			if frames <= 0 {
				frames = intOf(n, "num_frames", 2)
			}
			if frames <= 0 {
				frames = intOf(n, "video_frames", 2)
			}
			batch = intOf(n, "batch_size", 3)
		} else {
			batch = intOf(n, "batch_size", 2)
		}
		if strings.Contains(t, "Audio") {
			frames = 0
		}
		if batch <= 0 || batch > 4096 {
			batch = 1
		}
		if frames < 0 || frames > 100000 {
			frames = 0
		}
		return w, h, frames, batch
	}
	if fam.name == "sd15" {
		return 512, 512, 0, 1
	}
	return 1024, 1024, 0, 1
}

func intOf(n *Node, name string, idx int) int {
	v, ok := n.Value(name, idx)
	if !ok {
		return 0
	}
	f, ok := v.(float64)
	if !ok || f != f || f > 1e9 || f < -1e9 {
		return 0
	}
	return int(f)
}
