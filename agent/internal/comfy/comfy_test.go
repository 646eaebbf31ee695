package comfy

import "testing"

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
