package workflow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

// TestCorpus runs every workflow of the shared corpus (real files from ComfyUI, its frontend,
// comfy-cli, ComfyUI-Launcher, RunPod, custom node packs...) through the analysis with the real
// Manager data: none may fail or panic, and every model name must be normalised.
func TestCorpus(t *testing.T) {
	dir := workflowtest.CorpusDir(t, "workflows")
	s := NewService(Options{Manager: workflowtest.SeededManager(t)})
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", dir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Analyze(context.Background(), raw)
			if err != nil {
				t.Fatalf("analyze: %v", err)
			}
			md := a.Metadata
			if len(md.Nodes) == 0 {
				t.Error("no nodes")
			}
			for _, m := range append(md.RequiredModels, md.InactiveModels...) {
				if m.Filename == "" || strings.Contains(m.Filename, "\\") || strings.HasPrefix(m.Filename, "/") {
					t.Errorf("model name not normalised: %+v", m)
				}
			}
			if md.WorkflowType == "" {
				t.Error("empty workflow_type")
			}
		})
	}
}

// TestCorpusSample checks, for a sample of corpus files, the models and node packs found against
// what was read by hand in each file (see the comments for what each case covers).
func TestCorpusSample(t *testing.T) {
	dir := workflowtest.CorpusDir(t, "workflows")
	s := NewService(Options{Manager: workflowtest.SeededManager(t)})
	type pack struct{ repo, nodeType string }
	cases := []struct {
		file      string
		format    string
		wrapper   string
		wfType    string
		models    []string // "folder/name" required
		inactive  []string // "folder/name" only in muted/bypassed nodes
		packs     []pack
		noPacks   bool
		unresolve []string
		warning   string
		vramMin   int64 // MB
	}{
		{
			// All loaders live inside one subgraph; their names come from the instance's
			// widgets_values through the subgraph's COMBO inputs. Core nodes only.
			file: "comfy-cli__02_qwen_Image_edit_subgraphed.json", format: "ui", wfType: "img2img",
			models: []string{"diffusion_models/qwen_image_edit_2509_fp8_e4m3fn.safetensors",
				"loras/Qwen-Image-Edit-2509-Lightning-4steps-V1.0-bf16.safetensors",
				"text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors", "vae/qwen_image_vae.safetensors"},
			noPacks: true, vramMin: 8000,
		},
		{
			// Windows subfolders, bypassed LoRAs and a muted upscaler, an embedding in a prompt;
			// "Seed (rgthree)" is listed by a fork but matches rgthree's nodename_pattern and stars.
			file: "comfyui-launcher__abstract_noodle_soup.json", format: "ui", wfType: "video",
			models: []string{"checkpoints/sd-1.5/sd-1.5_checkpoints/nooshpere_4.7.safetensors",
				"animatediff_models/v3_sd15_mm.ckpt", "loras/sd-1.5/epi_noiseoffset2.safetensors", "embeddings/easynegative"},
			inactive: []string{"loras/sd-1.5/add_detail.safetensors", "upscale_models/4x-UltraSharp.pth"},
			packs: []pack{{"https://github.com/Kosinkadink/ComfyUI-AnimateDiff-Evolved", "ADE_AnimateDiffLoaderWithContext"},
				{"https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite", "VHS_VideoCombine"},
				{"https://github.com/rgthree/rgthree-comfy", "Seed (rgthree)"},
				{"https://github.com/Fannovel16/ComfyUI-Frame-Interpolation", "FILM VFI"}},
		},
		{
			// Nested subgraphs and one instance whose definition is missing; API (partner) nodes.
			file: "comfy-cli__subgraph_template_ui.json", format: "ui", wfType: "api",
			packs: []pack{{"https://github.com/cubiq/ComfyUI_essentials", "SimpleMath+"},
				{"https://github.com/kijai/ComfyUI-KJNodes", "SomethingToString"}},
			warning: "6d92985e-3e1e-49e2-acea-91c5259d86a8",
		},
		{
			// RunPod request body around an API prompt; "Image Save" is the WAS suite (maintained fork).
			file: "runpod__workflow_webp.json", format: "api", wrapper: "input.workflow", wfType: "txt2img",
			models: []string{"checkpoints/v1-5-pruned-emaonly.safetensors"},
			packs:  []pack{{"https://github.com/ltdrdata/was-node-suite-comfyui", "Image Save"}},
		},
		{
			// launcher.json: files[] gives real sizes (7.1 GB Juggernaut XL + VAE + control-lora + upscaler).
			file: "comfyui-launcher__upscale_launcher.json", format: "ui", wrapper: "workflow_json", wfType: "txt2img",
			models: []string{"checkpoints/juggernautXL_v9Rundiffusionphoto2.safetensors", "vae/sdxl_vae.safetensors",
				"controlnet/control-lora-depth-rank256.safetensors", "upscale_models/4x-UltraSharp.pth"},
			noPacks: true, vramMin: 9000,
		},
		{
			// Largest file: 6 subgraph definitions, 2 of 3 instances bypassed; aux_id on LTX nodes.
			file: "ltxvideo__LTX-2_ICLoRA_All_Distilled.json", format: "ui", wfType: "video",
			models:    []string{"checkpoints/ltx-2-19b-distilled.safetensors", "loras/ltx-2-19b-ic-lora-canny-control.safetensors"},
			inactive:  []string{"loras/ltx-2-19b-ic-lora-pose-control.safetensors", "loras/ltx-2-19b-ic-lora-depth-control.safetensors"},
			packs:     []pack{{"https://github.com/Lightricks/ComfyUI-LTXVideo", "LowVRAMCheckpointLoader"}},
			unresolve: []string{"LTXVSetAudioVideoMaskByTime"},
			vramMin:   40000,
		},
		{
			// GGUF loaders with a mixed-case cnr_id; crop/stitch nodes without cnr_id ranked by stars.
			file: "inpaint-cropandstitch__inpaint_flux.json", format: "ui", wfType: "inpaint",
			models: []string{"diffusion_models/fluxDevQ5KMGGUFQuantizationA_v10.gguf", "text_encoders/t5-v1_1-xxl-encoder-Q3_K_L.gguf",
				"text_encoders/clip_l.safetensors", "vae/ae.safetensors",
				"controlnet/FLUX.1-dev-Controlnet-Inpainting-Beta/diffusion_pytorch_model.safetensors"},
			packs: []pack{{"https://github.com/city96/ComfyUI-GGUF", "UnetLoaderGGUF"},
				{"https://github.com/lquesada/ComfyUI-Inpaint-CropAndStitch", "InpaintCropImproved"}},
		},
		{
			// IPAdapterUnifiedLoader picks its files from a preset: a warning, not a guessed model.
			file: "ipadapter-plus__ipadapter_simple.json", format: "ui", wfType: "txt2img",
			models:  []string{"checkpoints/sd15/realisticVisionV51_v51VAE.safetensors"},
			packs:   []pack{{"https://github.com/cubiq/ComfyUI_IPAdapter_plus", "IPAdapterUnifiedLoader"}},
			warning: `chosen by its preset "PLUS (high strength)"`,
		},
		{
			// Removed node IPAdapterApply stays unresolved; Windows path SD1.5\model.safetensors.
			file: "comfyui-launcher__instant_id_ult.json", format: "ui", wfType: "txt2img",
			models:    []string{"clip_vision/SD1.5/model.safetensors", "instantid/ip-adapter.bin", "controlnet/instantid.safetensors"},
			packs:     []pack{{"https://github.com/cubiq/ComfyUI_InstantID", "ApplyInstantID"}},
			unresolve: []string{"IPAdapterApply"},
		},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Analyze(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			md := a.Metadata
			if md.Format != c.format || md.Wrapper != c.wrapper || md.WorkflowType != c.wfType {
				t.Errorf("format/wrapper/type = %s/%q/%s, want %s/%q/%s", md.Format, md.Wrapper, md.WorkflowType, c.format, c.wrapper, c.wfType)
			}
			req, inact := modelSet(md.RequiredModels), modelSet(md.InactiveModels)
			for _, m := range c.models {
				if !req[m] {
					t.Errorf("required model %s not found; got %v", m, keys(req))
				}
			}
			for _, m := range c.inactive {
				if !inact[m] || req[m] {
					t.Errorf("model %s should be inactive only; inactive %v", m, keys(inact))
				}
			}
			for _, p := range c.packs {
				if !hasPack(md.RequiredCustomNodes, p.repo, p.nodeType) {
					t.Errorf("pack %s for %s not found; got %+v", p.repo, p.nodeType, md.RequiredCustomNodes)
				}
			}
			if c.noPacks && len(md.RequiredCustomNodes) > 0 {
				t.Errorf("want no custom node packs, got %+v", md.RequiredCustomNodes)
			}
			for _, u := range c.unresolve {
				if !contains(md.UnresolvedNodeTypes, u) {
					t.Errorf("%s should be unresolved; unresolved %v", u, md.UnresolvedNodeTypes)
				}
			}
			if c.warning != "" && !strings.Contains(strings.Join(md.Warnings, "\n"), c.warning) {
				t.Errorf("no warning mentioning %s in %v", c.warning, md.Warnings)
			}
			if md.EstimatedVRAM < c.vramMin {
				t.Errorf("estimated_vram %d MB, want at least %d", md.EstimatedVRAM, c.vramMin)
			}
		})
	}
}

func modelSet(ms []ModelRef) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		out[m.Folder+"/"+m.Filename] = true
	}
	return out
}

func keys(m map[string]bool) []string { return sortedKeys(m) }

func hasPack(ps []PackRef, repo, nodeType string) bool {
	for _, p := range ps {
		if strings.EqualFold(p.Repo, repo) && contains(p.NodeTypes, nodeType) {
			return true
		}
	}
	return false
}
