package project

import "testing"

func TestSlugify(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"My Project":       "my-project",
		"  Démo -- Été!! ": "demo-ete",
		"a_b c":            "a_b-c",
		"日本":               "",
	} {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}
