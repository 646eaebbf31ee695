package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/gpu"
)

func TestProjectsConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lj := filepath.Join(dir, "wf.json")
	os.WriteFile(lj, []byte(`{}`), 0o644)
	base := "[paths]\ndata_dir = \"" + dir + "\"\n"
	for _, tc := range []struct {
		name, toml, wantErr string
	}{
		{"valid", `[[projects]]
id = "sdxl"
launcher_json = "` + lj + `"
port = 4050
gpu = [0, "GPU-8f2c"]
restart = "always"
launch_args = ["--lowvram"]
env = { HF_HOME = "/tmp" }
state = "stopped"
`, ""},
		{"bad id", "[[projects]]\nid = \"Bad Id\"\n", "id \"Bad Id\""},
		{"duplicate id", "[[projects]]\nid = \"a\"\n[[projects]]\nid = \"a\"\n", "ids must be unique"},
		{"both sources", "[[projects]]\nid = \"a\"\ntemplate = \"t\"\nlauncher_json = \"" + lj + "\"\n", "not both"},
		{"missing file", "[[projects]]\nid = \"a\"\nlauncher_json = \"/nope.json\"\n", "launcher_json"},
		{"bad gpu", "[[projects]]\nid = \"a\"\ngpu = \"fast\"\n", "gpu must be"},
		{"bad state", "[[projects]]\nid = \"a\"\nstate = \"up\"\n", "state \"up\""},
		{"bad restart", "[[projects]]\nid = \"a\"\nrestart = \"sometimes\"\n", "restart"},
		{"agent-owned arg", "[[projects]]\nid = \"a\"\nlaunch_args = [\"--port=1\"]\n", "launch_args"},
		{"port collision", "[[projects]]\nid = \"a\"\nport = 4050\n[[projects]]\nid = \"b\"\nport = 4050\n", "also used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".toml")
			os.WriteFile(path, []byte(base+tc.toml), 0o644)
			c, err := config.Load(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := OptionsFromConfig(c)
			if len(o.Desired) != 1 {
				t.Fatalf("desired = %+v", o.Desired)
			}
			d := o.Desired[0]
			if d.ID != "sdxl" || d.Name != "sdxl" || d.Port != 4050 || d.State != "stopped" || d.Restart != "always" ||
				d.GPU.Mode != gpu.List || len(d.GPU.Devices) != 2 || d.Env["HF_HOME"] != "/tmp" || d.LauncherJSON != lj {
				t.Fatalf("desired = %+v", d)
			}
		})
	}
}
