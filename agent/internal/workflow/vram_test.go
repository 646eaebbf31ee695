package workflow

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	registry "github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/sdk/extension"
)

// writeSafetensors writes a header-only safetensors file whose tensors claim n bytes of dtype.
func writeSafetensors(t *testing.T, path, dtype string, n int64) {
	t.Helper()
	h, _ := json.Marshal(map[string]any{
		"__metadata__": map[string]string{"format": "pt"},
		"w":            map[string]any{"dtype": dtype, "shape": []int64{n}, "data_offsets": []int64{0, n}},
	})
	b := make([]byte, 8, 8+len(h))
	binary.LittleEndian.PutUint64(b, uint64(len(h)))
	if err := os.WriteFile(path, append(b, h...), 0o644); err != nil {
		t.Fatal(err)
	}
}

type diskCatalog struct{ root string }

func (d diskCatalog) Lookup(folder, name string) (string, int64, bool) {
	p := filepath.Join(d.root, folder, name)
	fi, err := os.Stat(p)
	if err != nil {
		return "", 0, false
	}
	// The file holds only a header; report the size its tensors claim, as a real file would have.
	st, err := ReadSafetensorsHeader(p)
	if err != nil {
		return p, fi.Size(), true
	}
	return p, st.Total, true
}

func (diskCatalog) Suggest(context.Context, extension.ModelQuery) ([]extension.ModelCandidate, []registry.Failure) {
	return nil, nil
}

func TestVRAMFromSafetensorsHeader(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "checkpoints"), 0o755)
	const gb = 1 << 30
	cases := []struct {
		name, dtype string
		bytes       int64
		wantWeights int64 // MB
	}{
		{"fp16 checkpoint counts fully", "F16", 4 * gb, 4096},
		{"fp32 checkpoint loads at half size", "F32", 4 * gb, 2048},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writeSafetensors(t, filepath.Join(root, "checkpoints", "m.safetensors"), c.dtype, c.bytes)
			s := NewService(Options{Catalog: diskCatalog{root}})
			wf := `{"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"m.safetensors"}},
				"2":{"class_type":"EmptyLatentImage","inputs":{"width":512,"height":512,"batch_size":1}},
				"3":{"class_type":"KSampler","inputs":{}}}`
			a, err := s.Analyze(context.Background(), []byte(wf))
			if err != nil {
				t.Fatal(err)
			}
			v := a.Metadata.VRAM
			if v.WeightsMB != c.wantWeights {
				t.Errorf("weights %d MB, want %d", v.WeightsMB, c.wantWeights)
			}
			// 512x512, batch 1, family unknown (factor 1): 2*64*64*2*0.01 = 163.84 MB.
			if v.ActivationMB != 164 {
				t.Errorf("activation %d MB, want 164", v.ActivationMB)
			}
			if a.Metadata.EstimatedVRAM != c.wantWeights+max(v.ActivationMB, v.DecodeMB)+overheadMB {
				t.Errorf("estimate %d does not add up: %+v", a.Metadata.EstimatedVRAM, v)
			}
		})
	}
}

func TestReadSafetensorsHeaderErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]byte{
		"short":     {1, 2},
		"huge":      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"not json":  append([]byte{3, 0, 0, 0, 0, 0, 0, 0}, []byte("abc")...),
		"truncated": {10, 0, 0, 0, 0, 0, 0, 0, '{'},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			os.WriteFile(p, b, 0o644)
			if _, err := ReadSafetensorsHeader(p); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name  string
		types []string
		want  string
	}{
		{"txt2img", []string{"CheckpointLoaderSimple", "EmptyLatentImage", "KSampler"}, "txt2img"},
		{"img2img", []string{"LoadImage", "VAEEncode", "KSampler"}, "img2img"},
		{"inpaint", []string{"LoadImage", "VAEEncodeForInpaint", "KSampler"}, "inpaint"},
		{"outpaint", []string{"LoadImage", "ImagePadForOutpaint", "KSampler"}, "inpaint"},
		{"upscale only", []string{"LoadImage", "UpscaleModelLoader", "ImageUpscaleWithModel"}, "upscale"},
		{"controlnet", []string{"LoadImage", "ControlNetLoader", "ControlNetApplyAdvanced"}, "controlnet"},
		{"video", []string{"EmptyHunyuanLatentVideo", "KSampler", "SaveVideo"}, "video"},
		{"audio", []string{"EmptyAceStepLatentAudio", "KSampler", "SaveAudio"}, "audio"},
		{"3d", []string{"Hunyuan3Dv2Conditioning", "SaveGLB"}, "3d"},
		{"api", []string{"ByteDanceSeedreamNodeV2", "SaveImage"}, "api"},
		{"nothing", []string{"SaveImage"}, "unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &Graph{}
			for _, typ := range c.types {
				g.Nodes = append(g.Nodes, &Node{Type: typ})
			}
			g.Nodes = append(g.Nodes, &Node{Type: "SaveVideo", Inactive: true}) // inactive nodes never count
			got, _ := Classify(g, loadIndexForTest())
			if got != c.want {
				t.Errorf("Classify(%v) = %s, want %s", c.types, got, c.want)
			}
		})
	}
}

func loadIndexForTest() *ManagerIndex {
	return NewManagerIndex(nil)
}
