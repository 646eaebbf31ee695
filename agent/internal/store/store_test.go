package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

type rec struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func openT(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func TestRoundTrip(t *testing.T) {
	db := openT(t, t.TempDir())
	defer db.Close()
	if err := db.Put(BucketProjects, "p1", rec{"a", 1}); err != nil {
		t.Fatal(err)
	}
	var got rec
	if err := db.Get(BucketProjects, "p1", &got); err != nil || got != (rec{"a", 1}) {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if err := db.Get(BucketProjects, "missing", &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v, want ErrNotFound", err)
	}
	if err := db.Delete(BucketProjects, "p1"); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(BucketProjects, "p1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if err := db.Get(BucketProjects, "p1", &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestScans(t *testing.T) {
	db := openT(t, t.TempDir())
	defer db.Close()
	recs := map[string]any{}
	for i := 0; i < 20; i++ {
		recs[fmt.Sprintf("log/p1/%04d", i)] = rec{N: i}
		recs[fmt.Sprintf("log/p2/%04d", i)] = rec{N: 100 + i}
	}
	if err := db.PutAll(BucketLogs, recs); err != nil {
		t.Fatal(err)
	}
	collect := func(f func(fn func(string, []byte) error) error) (keys []string, ns []int) {
		t.Helper()
		if err := f(func(k string, raw []byte) error {
			var r rec
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			keys = append(keys, k)
			ns = append(ns, r.N)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return
	}
	tests := []struct {
		name      string
		scan      func(fn func(string, []byte) error) error
		wantFirst string
		wantLen   int
	}{
		{"prefix", func(fn func(string, []byte) error) error { return db.Scan(BucketLogs, "log/p2/", fn) }, "log/p2/0000", 20},
		{"page", func(fn func(string, []byte) error) error { return db.ScanPage(BucketLogs, "log/p1/", 5, 3, fn) }, "log/p1/0005", 3},
		{"range inclusive", func(fn func(string, []byte) error) error {
			return db.Range(BucketLogs, "log/p1/0018", "log/p2/0001", fn)
		}, "log/p1/0018", 4},
		{"empty prefix is empty, not an error", func(fn func(string, []byte) error) error { return db.Scan(BucketLogs, "nope/", fn) }, "", 0},
		{"all", func(fn func(string, []byte) error) error { return db.Scan(BucketLogs, "", fn) }, "log/p1/0000", 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, _ := collect(tc.scan)
			if len(keys) != tc.wantLen {
				t.Fatalf("got %d keys %v, want %d", len(keys), keys, tc.wantLen)
			}
			if tc.wantLen > 0 && keys[0] != tc.wantFirst {
				t.Fatalf("first key %q, want %q", keys[0], tc.wantFirst)
			}
			for i := 1; i < len(keys); i++ {
				if keys[i-1] >= keys[i] {
					t.Fatalf("keys out of order: %v", keys)
				}
			}
		})
	}
	if n, err := db.Count(BucketLogs, "log/p1/"); err != nil || n != 20 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if n, err := db.DeletePrefix(BucketLogs, "log/p1/"); err != nil || n != 20 {
		t.Fatalf("delete prefix = %d, %v", n, err)
	}
	if n, _ := db.Count(BucketLogs, ""); n != 20 {
		t.Fatalf("after delete prefix: %d keys, want 20", n)
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	for i := 0; i < 50; i++ {
		if err := db.Put(BucketOps, fmt.Sprintf("op/%03d", i), rec{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir)
	defer db.Close()
	var r rec
	if err := db.Get(BucketOps, "op/049", &r); err != nil || r.N != 49 {
		t.Fatalf("after reopen: %+v, %v", r, err)
	}
	if n, _ := db.Count(BucketOps, "op/"); n != 50 {
		t.Fatalf("after reopen: %d ops, want 50", n)
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	defer db.Close()
	_, err := Open(dir, nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if want := "another agent is already running on " + dir; err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
}

// dataFileEnd returns the path of the data file and the offset just past the last entry.
func dataFileEnd(t *testing.T, dir string) (string, int64) {
	t.Helper()
	path, err := newestDataFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := int64(len(b))
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return path, end
}

func TestTornTailSalvaged(t *testing.T) {
	tests := []struct {
		name string
		// damage breaks the last entry, which starts at last and ends at end.
		damage func(t *testing.T, path string, last, end int64)
	}{
		{"file cut mid-entry", func(t *testing.T, path string, last, end int64) {
			if err := os.Truncate(path, last+(end-last)/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"half-written entry", func(t *testing.T, path string, last, end int64) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			zero := make([]byte, (end-last)/2)
			f.WriteAt(zero, end-int64(len(zero)))
		}},
		{"garbage after tail", func(t *testing.T, path string, last, end int64) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			f.WriteAt([]byte("\x7fgarbage-garbage-garbage-garbage"), end)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openT(t, dir)
			for i := 0; i < 10; i++ {
				if err := db.Put(BucketOps, fmt.Sprintf("op/%02d", i), rec{Name: "intact", N: i}); err != nil {
					t.Fatal(err)
				}
			}
			_, beforeLast := dataFileEnd(t, dir)
			if err := db.Put(BucketOps, "op/99", rec{Name: "torn", N: 99}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			path, end := dataFileEnd(t, dir)
			tc.damage(t, path, beforeLast, end)

			db, err := Open(dir, nil)
			if err != nil {
				t.Fatalf("open after damage: %v", err)
			}
			defer db.Close()
			if db.Salvaged <= 0 {
				t.Fatalf("open succeeded without salvaging the damaged tail")
			}
			for i := 0; i < 10; i++ {
				var r rec
				if err := db.Get(BucketOps, fmt.Sprintf("op/%02d", i), &r); err != nil || r.N != i {
					t.Fatalf("intact record %d lost: %+v %v", i, r, err)
				}
			}
			if err := db.Put(BucketOps, "op/new", rec{N: 1}); err != nil {
				t.Fatalf("write after salvage: %v", err)
			}
		})
	}
}

func TestCorruptionSalvageDetects(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	db.Put(BucketOps, "a", rec{N: 1})
	db.Close()
	if _, err := salvageTail(filepath.Join(dir)); err == nil {
		t.Fatal("salvage of a clean file should report that it found nothing to repair")
	}
}

// TestEveryBucketAcrossRestart opens a fresh store, closes it before anything is written, and
// reopens it: every bucket the agent declares (and one created later with EnsureBuckets) must
// answer reads, writes, deletes and scans as an empty bucket, then keep what was written across
// a second restart. nutsdb v1.0.4 reopens a never-written bucket without its index.
func TestEveryBucketAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	openT(t, dir).Close()

	db := openT(t, dir)
	const extra = "extension_state"
	if err := db.EnsureBuckets(extra); err != nil {
		t.Fatal(err)
	}
	db.Close()

	buckets := append(append([]string(nil), DefaultBuckets...), extra)
	db = openT(t, dir)
	for _, b := range buckets {
		var got rec
		if err := db.Get(b, "k", &got); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: get on an empty reopened bucket = %v, want ErrNotFound", b, err)
		}
		if err := db.Delete(b, "k"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: delete on an empty reopened bucket = %v, want ErrNotFound", b, err)
		}
		if keys, err := db.Keys(b, ""); err != nil || len(keys) != 0 {
			t.Errorf("%s: keys = %v, %v; want none (the probe must not show)", b, keys, err)
		}
		if n, err := db.Count(b, ""); err != nil || n != 0 {
			t.Errorf("%s: count = %d, %v", b, n, err)
		}
		if err := db.Scan(b, "", func(k string, _ []byte) error { return fmt.Errorf("unexpected key %q", k) }); err != nil {
			t.Errorf("%s: scan: %v", b, err)
		}
		if err := db.Range(b, "a", "z", func(k string, _ []byte) error { return fmt.Errorf("unexpected key %q", k) }); err != nil {
			t.Errorf("%s: range: %v", b, err)
		}
		if err := db.Put(b, "k", rec{b, 1}); err != nil {
			t.Errorf("%s: put: %v", b, err)
		}
	}
	db.Close()

	db = openT(t, dir)
	defer db.Close()
	for _, b := range buckets {
		var got rec
		if err := db.Get(b, "k", &got); err != nil || got != (rec{b, 1}) {
			t.Errorf("%s: after restart get = %+v, %v", b, got, err)
		}
		if keys, err := db.Keys(b, ""); err != nil || len(keys) != 1 {
			t.Errorf("%s: after restart keys = %v, %v; want [k]", b, keys, err)
		}
	}
}
