package managerdata

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestIndexMatchesReference holds the packed Index to the plain-map reading of the same files
// (reference_test.go) for every node type, repository, registry id, URL segment, owner/repo
// and model file name the files name, in other letter cases too, and for near misses: a wrong
// offset, hash slot or repository number in the packing answers differently for some of them.
func TestIndexMatchesReference(t *testing.T) {
	t.Parallel()
	t.Run("fixture", func(t *testing.T) {
		t.Parallel()
		files := map[string][]byte{}
		for _, f := range Files {
			b, err := os.ReadFile(filepath.Join(fixture, f))
			if err != nil {
				t.Fatal(err)
			}
			files[f] = b
		}
		checkAgainstReference(t, files)
	})
	t.Run("corpus", func(t *testing.T) {
		t.Parallel()
		checkAgainstReference(t, corpusFiles(t))
	})
}

func checkAgainstReference(t *testing.T, files map[string][]byte) {
	ref := newRefIndex(files)
	ix := buildIndex(t, files)
	for _, f := range Files {
		if !ix.Has(f) {
			t.Errorf("Has(%s) = false", f)
		}
	}
	if len(ref.typeRepos) == 0 || len(ref.stars) == 0 || len(ref.cnr) == 0 || len(ref.models) == 0 {
		t.Fatal("the reference read nothing from a file; the comparison would prove nothing")
	}
	var types []string
	for _, m := range []map[string]bool{ref.core, keySet(ref.typeRepos), keySet(ref.preempt)} {
		for k := range m {
			types = append(types, variants(k)...)
		}
	}
	types = append(types, "", "NoSuchNodeType")
	for i, typ := range types {
		if got, want := ix.CoreType(typ), ref.core[typ]; got != want {
			t.Errorf("CoreType(%q) = %v, want %v", typ, got, want)
		}
		if got, want := ix.ReposOfType(typ), ref.typeRepos[typ]; !slices.Equal(got, want) {
			t.Errorf("ReposOfType(%q) = %q, want %q", typ, got, want)
		}
		if got, want := ix.Preemptor(typ), ref.preempt[typ]; got != want {
			t.Errorf("Preemptor(%q) = %q, want %q", typ, got, want)
		}
		// Regexps the packing does not touch; a sample keeps the test fast.
		if i%16 == 0 {
			if got, want := ix.PatternRepos(typ), ref.patternRepos(typ); !slices.Equal(got, want) {
				t.Errorf("PatternRepos(%q) = %q, want %q", typ, got, want)
			}
		}
	}

	repos := map[string]bool{"": true}
	for _, m := range []map[string]bool{keySet(ref.stars), keySet(ref.nodeTitle), keySet(ref.listTitle)} {
		for k := range m {
			repos[k] = true
		}
	}
	for _, rs := range ref.lastSeg {
		for _, r := range rs {
			repos[r] = true
		}
	}
	for r := range repos {
		for _, q := range variants(r) {
			if got, want := ix.Stars(q), ref.stars[q]; got != want {
				t.Errorf("Stars(%q) = %d, want %d", q, got, want)
			}
			if got, want := ix.Title(q), ref.title(q); got != want {
				t.Errorf("Title(%q) = %q, want %q", q, got, want)
			}
		}
	}
	for id := range ref.cnr {
		for _, q := range variants(id) {
			if got, want := ix.RepoOfRegistryID(q), ref.cnr[strings.ToLower(q)]; got != want {
				t.Errorf("RepoOfRegistryID(%q) = %q, want %q", q, got, want)
			}
		}
	}
	for seg := range ref.lastSeg {
		for _, q := range variants(seg) {
			if got, want := ix.ReposNamed(q), ref.lastSeg[strings.ToLower(q)]; !slices.Equal(got, want) {
				t.Errorf("ReposNamed(%q) = %q, want %q", q, got, want)
			}
		}
	}
	for or := range ref.ownerRepo {
		for _, q := range variants(or) {
			if got, want := ix.RepoOfOwnerName(q), ref.ownerRepo[strings.ToLower(q)]; got != want {
				t.Errorf("RepoOfOwnerName(%q) = %q, want %q", q, got, want)
			}
		}
	}
	for name, ms := range ref.models {
		for _, q := range append(variants(name), "sub/dir/"+name, ms[0].Filename) {
			if got, want := ix.Models(q), ref.models[strings.ToLower(filepath.Base(q))]; !slices.Equal(got, want) {
				t.Errorf("Models(%q) = %+v, want %+v", q, got, want)
			}
		}
	}
}

// variants are s, other letter cases of it and near misses.
func variants(s string) []string {
	return []string{s, strings.ToUpper(s), strings.ToLower(s), s + "x", "x" + s, s[:len(s)/2]}
}

func keySet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// TestLowerIs: the repository keys compare a URL segment with a lower-cased query exactly as
// strings.ToLower would, non-ASCII letters included.
func TestLowerIs(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "abc", "ComfyUI-GGUF", "Ab_1-x.Y", "İstanbul", "\u212Aelvin", "ſtrange", "Ünïcode", "\xffbad"} {
		for _, q := range []string{"", strings.ToLower(s), strings.ToUpper(s), "abc", "kelvin", "strange", "i̇stanbul", "istanbul"} {
			if got, want := lowerIs(s, q), strings.ToLower(s) == q; got != want {
				t.Errorf("lowerIs(%q, %q) = %v, want %v", s, q, got, want)
			}
		}
	}
}
