package managerdata

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

// corpusFiles reads the team's shared corpus copy of the real Manager files (a sibling of the
// repository, 6.6 MB); the test is skipped when it is not there.
func corpusFiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	dir := filepath.Join("..", "..", "..", "..", "shared", "corpus", "manager")
	files := map[string][]byte{}
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if os.IsNotExist(err) {
			tb.Skipf("shared corpus %s not present; these cases need the repository's sibling shared/ folder", dir)
		}
		if err != nil {
			tb.Fatal(err)
		}
		files[f] = b
	}
	return files
}

// buildIndex parses the files one after another and builds their index, as Data.Load does.
func buildIndex(tb testing.TB, files map[string][]byte) *Index {
	tb.Helper()
	var p parts
	for _, f := range Files {
		if err := p.parse(f, files[f]); err != nil {
			tb.Fatal(err)
		}
	}
	return p.build(1)
}

// BenchmarkIndexLoad parses the real Manager files into an Index (the agent's start-up load),
// and reports what the index keeps: live-B is its live heap, inuse-B the heap spans it holds
// (fragmentation included) and resident-B the heap memory still taken from the OS after the
// parse garbage was given back, which is what it adds to the agent's idle RSS.
func BenchmarkIndexLoad(b *testing.B) {
	files := corpusFiles(b)
	var before, after runtime.MemStats
	debug.FreeOSMemory()
	runtime.ReadMemStats(&before)
	ix := buildIndex(b, files)
	debug.FreeOSMemory()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(ix)
	b.ReportAllocs()
	for b.Loop() {
		buildIndex(b, files)
	}
	// After the loop: b.Loop resets the metrics reported before it.
	b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "live-B")
	b.ReportMetric(float64(after.HeapInuse)-float64(before.HeapInuse), "inuse-B")
	b.ReportMetric(float64(after.HeapSys-after.HeapReleased)-float64(before.HeapSys-before.HeapReleased), "resident-B")
}

// BenchmarkIndexLookup asks what a workflow preview asks for each node (its core status, its
// packs, their preemptor, stars and titles) for every node type of the corpus node map: packed
// is the Index, maps the plain-map reading of the same files, for comparison.
func BenchmarkIndexLookup(b *testing.B) {
	files := corpusFiles(b)
	ix, ref := buildIndex(b, files), newRefIndex(files)
	types := make([]string, 0, len(ref.typeRepos))
	for t := range ref.typeRepos {
		types = append(types, t)
	}
	b.Run("packed", func(b *testing.B) {
		n := 0
		for b.Loop() {
			for _, t := range types {
				if !ix.CoreType(t) && ix.Preemptor(t) == "" {
					for _, r := range ix.ReposOfType(t) {
						n += ix.Stars(r) + len(ix.Title(r))
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(types)), "ns/type")
	})
	b.Run("maps", func(b *testing.B) {
		n := 0
		for b.Loop() {
			for _, t := range types {
				if !ref.core[t] && ref.preempt[t] == "" {
					for _, r := range ref.typeRepos[t] {
						n += ref.stars[r] + len(ref.title(r))
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(types)), "ns/type")
	})
}
