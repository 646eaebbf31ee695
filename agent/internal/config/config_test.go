package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(EnvConfig, "")
	c, err := Load("")
	if err != nil {
		t.Fatalf("load with no file: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Server.Listen, "127.0.0.1:4000"},
		{"data dir", c.Paths.DataDir, filepath.Join(dir, "data")},
		{"models dir", c.Paths.ModelsDir, filepath.Join(dir, "data", "models")},
		{"ports min", c.Ports.Min, 4001},
		{"ports max", c.Ports.Max, 4100},
		{"python", c.ComfyUI.Python, "python3"},
		{"ready timeout", c.ComfyUI.ReadyTimeout.Duration, 120 * time.Second},
		{"no file", c.File, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	body = strings.ReplaceAll(body, "$DIR", dir)
	p := filepath.Join(dir, "launcher.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string // substrings the error must contain
	}{
		{"unknown key names key and line", "[paths]\ndata_dir = \"$DIR/d\"\n\n[server]\nlisten = \"127.0.0.1:4000\"\nlisen = \"x\"\n",
			[]string{"line 6", `"server.lisen"`}},
		{"unknown section", "[paths]\ndata_dir = \"$DIR/d\"\n[serverr]\nlisten = \"x\"\n", []string{"line 3", "serverr"}},
		{"wrong type names key and line", "[paths]\ndata_dir = \"$DIR/d\"\n[ports]\nmin = \"4001\"\n", []string{"line 4", "ports.min"}},
		{"bad duration", "[paths]\ndata_dir = \"$DIR/d\"\n[comfyui]\nready_timeout = \"soon\"\n", []string{"comfyui.ready_timeout", "30s"}},
		{"inverted port range", "[paths]\ndata_dir = \"$DIR/d\"\n[ports]\nmin = 5000\nmax = 4000\n", []string{"ports.min (5000) is greater than ports.max (4000)", "swap"}},
		{"port range below 1024", "[paths]\ndata_dir = \"$DIR/d\"\n[ports]\nmin = 80\nmax = 90\n", []string{"within 1024..65535"}},
		{"port range above 65535", "[paths]\ndata_dir = \"$DIR/d\"\n[ports]\nmin = 65000\nmax = 70000\n", []string{"within 1024..65535"}},
		{"listen not host:port", "[paths]\ndata_dir = \"$DIR/d\"\n[server]\nlisten = \"4000\"\n", []string{"server.listen", "host:port"}},
		{"weak token on public address", "[paths]\ndata_dir = \"$DIR/d\"\n[server]\nlisten = \"0.0.0.0:4000\"\ntoken = \"abc\"\n", []string{"shorter than 16", "token_file"}},
		{"token and token_file", "[paths]\ndata_dir = \"$DIR/d\"\n[server]\ntoken = \"0123456789abcdef0\"\ntoken_file = \"$DIR/t\"\n", []string{"both set"}},
		{"cors origin without scheme", "[paths]\ndata_dir = \"$DIR/d\"\n[server]\ncors_origins = [\"example.com\"]\n", []string{"cors_origins", "http://"}},
		{"allowed host with a port", "[paths]\ndata_dir = \"$DIR/d\"\n[server]\nallowed_hosts = [\"launcher.lan:4000\"]\n", []string{"server.allowed_hosts", "without scheme or port"}},
		{"allowed host with a scheme", "[paths]\ndata_dir = \"$DIR/d\"\n[server]\nallowed_hosts = [\"http://launcher.lan\"]\n", []string{"server.allowed_hosts"}},
		{"data dir not writable", "[paths]\ndata_dir = \"/proc/launcher-test\"\n", []string{"paths.data_dir", "not writable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.body))
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadValid(t *testing.T) {
	p := writeConfig(t, `
[server]
listen = "0.0.0.0:4100"
token_file = "$DIR/token"
cors_origins = ["http://localhost:3000"]
[paths]
data_dir = "$DIR/data"
models_dir = "$DIR/models"
[ports]
min = 5000
max = 5010
[comfyui]
pip_args = ["--index-url", "https://download.pytorch.org/whl/cu121"]
launch_args = ["--preview-method", "auto"]
ready_timeout = "90s"
`)
	t.Setenv(EnvConfig, "")
	c, err := Load(p)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if c.Ports.Min != 5000 || c.ComfyUI.ReadyTimeout.Duration != 90*time.Second || len(c.ComfyUI.PipArgs) != 2 {
		t.Fatalf("values not applied: %+v", c)
	}
	if !filepath.IsAbs(c.Paths.ModelsDir) || !strings.HasSuffix(c.Paths.ModelsDir, "models") {
		t.Fatalf("models dir %q", c.Paths.ModelsDir)
	}
	// The environment variable is used when no path is given.
	t.Setenv(EnvConfig, p)
	c2, err := Load("")
	if err != nil || c2.File != p {
		t.Fatalf("LAUNCHER_CONFIG not honoured: %v %v", err, c2)
	}
}

// TestRepoConfigs keeps the shipped launcher.toml and configs/*.toml decodable: they document
// every key, so a renamed key must break this test.
func TestRepoConfigs(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	files, _ := filepath.Glob(filepath.Join(root, "configs", "*.toml"))
	files = append(files, filepath.Join(root, "launcher.toml"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := Default()
			if err := Decode(data, c); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		})
	}
}
