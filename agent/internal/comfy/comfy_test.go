package comfy

import (
	"os/exec"
	"strings"
	"testing"
)

func TestFolderNames(t *testing.T) {
	cases := []struct {
		fn       func(string) string
		in, want string
	}{
		{CanonicalFolder, "clip", "text_encoders"},
		{CanonicalFolder, "t2i_adapter", "controlnet"},
		{CanonicalFolder, "\\unet\\", "diffusion_models"},
		{CanonicalFolder, "loras", "loras"},
		{FolderAlias, " Lora ", "loras"},
		{FolderAlias, "T2I_ADAPTER", "controlnet"},
		{FolderAlias, "custom", "custom"},
		{ManagerTypeFolder, "T2I-Adapter", "controlnet"},
		{ManagerTypeFolder, "unet", "diffusion_models"},
		{ManagerTypeFolder, "something", "etc"},
	}
	for _, c := range cases {
		if got := c.fn(c.in); got != c.want {
			t.Errorf("%q -> %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFoldersTable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Folders() {
		if seen[f.Key] || len(f.Dirs) == 0 {
			t.Errorf("folder %q duplicated or without a directory", f.Key)
		}
		seen[f.Key] = true
	}
	// Every legacy and Manager type name resolves to a key of the table.
	for _, m := range []map[string]string{legacyFolders, singularFolders, managerTypeFolders} {
		for k, v := range m {
			if !seen[v] {
				t.Errorf("%q maps to %q, which is not a folder key", k, v)
			}
		}
	}
	// Folders returns a copy: callers cannot change the table.
	Folders()[0].Dirs[0] = "x"
	if Folders()[0].Dirs[0] == "x" {
		t.Error("Folders exposes the table")
	}
}

func TestHasModelExt(t *testing.T) {
	for name, want := range map[string]bool{
		"a.safetensors": true, "sub/B.GGUF": true, "x.pt": true, "x.yaml": false, "readme": false,
		"a very long prompt that ends in model.ckpt": true, "model.safetensors/": false,
	} {
		if got := HasModelExt(name); got != want {
			t.Errorf("HasModelExt(%q) = %v", name, got)
		}
	}
}

func TestURLFileName(t *testing.T) {
	for in, want := range map[string]string{
		"https://hf.co/a/resolve/main/sub/x%20y.safetensors?download=1": "x y.safetensors",
		"https://hf.co/": "", "https://hf.co": "", "::bad": "",
	} {
		if got := URLFileName(in); got != want {
			t.Errorf("URLFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLeafImports guards the layering: comfy is a leaf (nothing of the agent), and the Manager
// data component it serves imports nothing of the HTTP API or the event hub. (managerdata's
// transitive edge config -> gpu -> api is the config package's to cut.)
func TestLeafImports(t *testing.T) {
	const mod = "github.com/comfylauncher/launcher/"
	cases := []struct {
		pkg, format string
		banned      []string
	}{
		{mod + "agent/internal/comfy", `{{join .Deps " "}}`, []string{mod}},
		{mod + "agent/internal/managerdata", `{{join .Imports " "}}`, []string{mod + "agent/internal/api", mod + "agent/internal/hub",
			"github.com/julienschmidt/httprouter"}},
	}
	for _, c := range cases {
		out, err := exec.Command("go", "list", "-f", c.format, c.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", c.pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) == 0 {
			t.Fatalf("go list %s listed nothing: the guard would prove nothing", c.pkg)
		}
		for _, dep := range deps {
			for _, b := range c.banned {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s depends on %s", c.pkg, dep)
				}
			}
		}
	}
}
