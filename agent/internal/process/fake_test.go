package process

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// TestFakeHonoursSpec checks that Spec.ExtraModelPaths and Spec.Env reach the server: the
// fake lists models from the extra_model_paths.yaml it was given and reports the GPUs of
// CUDA_VISIBLE_DEVICES.
func TestFakeHonoursSpec(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	files := []string{"models/checkpoints/sd15.safetensors", "models/checkpoints/sub/xl.ckpt",
		"models/checkpoints/notes.txt", "models/loras/a.safetensors", "extra/loras/b.pt"}
	for _, f := range files {
		p := filepath.Join(store, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yaml := "# written by the agent\nlauncher:\n  base_path: " + store + "\n  is_default: true\n" +
		"  checkpoints: models/checkpoints/\n  loras: |\n    models/loras\n    extra/loras\n"
	cfg := filepath.Join(t.TempDir(), "extra_model_paths.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestSupervisor(t, &recorder{}, testOptions())
	spec := testSpec(t, "models", map[string]string{"CUDA_VISIBLE_DEVICES": "1,3"})
	spec.Args = []string{"--disable-auto-launch"} // no --cpu: GPUs come from the env
	spec.ExtraModelPaths = cfg
	if _, err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	stats := systemStats(t, spec.Port)
	if devs, _ := stats["devices"].([]any); len(devs) != 2 {
		t.Errorf("devices %v; want the 2 of CUDA_VISIBLE_DEVICES", stats["devices"])
	}
	tests := []struct {
		class, input string
		want         []string
	}{
		{"CheckpointLoaderSimple", "ckpt_name", []string{"sd15.safetensors", "sub/xl.ckpt"}},
		{"LoraLoader", "lora_name", []string{"a.safetensors", "b.pt"}},
	}
	for _, tc := range tests {
		t.Run(tc.class, func(t *testing.T) {
			resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(spec.Port) + "/api/object_info/" + tc.class)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var info map[string]struct {
				Input struct {
					Required map[string][]json.RawMessage `json:"required"`
				} `json:"input"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := json.Unmarshal(info[tc.class].Input.Required[tc.input][0], &got); err != nil {
				t.Fatalf("combo list: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s = %v, want %v", tc.input, got, tc.want)
			}
		})
	}
}
