package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/modelshttp"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// modelAgent runs the real model store and recovery runner behind an httptest server.
func modelAgent(t *testing.T) (url, root string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	runner := recovery.New(db, nil, recovery.Options{})
	reg := sources.Of(sources.Direct{})
	root = filepath.Join(dir, "models")
	svc, err := models.New(models.Options{ModelsDir: root, Download: download.Options{MaxConnections: 1,
		FreeSpace: func(string) (uint64, uint64, error) { return 1 << 40, 1 << 41, nil }}}, db, runner, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svc.Start(ctx)
	runner.Start(ctx)
	t.Cleanup(func() { runner.Stop(context.Background()) })
	r := httprouter.New()
	modelshttp.Routes(r, svc)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL, root
}

func TestModelCmd(t *testing.T) {
	agent, root := modelAgent(t)
	fs := faultserver.NewFile(3<<20, 21)
	defer fs.Close()
	fs.BytesPerSecond.Store(6 << 20) // slow enough for a few progress lines
	run := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := runModelCmd(ctx, args, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	cases := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{"help", []string{"--help"}, "Usage: launcher model COMMAND", ""},
		{"ls help", []string{"ls", "--help"}, "List the models", ""},
		{"pull help", []string{"pull", "--help"}, "hf:org/repo", ""},
		{"rm help", []string{"rm", "--help"}, "Delete a model", ""},
		{"dedupe help", []string{"dedupe", "--help"}, "hard links", ""},
		{"unknown", []string{"frobnicate"}, "", "unknown command"},
		{"pull", []string{"pull", "--agent", agent, "--interval", "50ms", "--folder", "loras", "--sha256", fs.SHA256(), fs.URL()}, "loras/file.safetensors: downloaded and verified", ""},
		{"pull again", []string{"pull", "--agent", agent, "--folder", "loras", fs.URL()}, "already in the store", ""},
		{"pull bad folder", []string{"pull", "--agent", agent, "--folder", "nope", fs.URL()}, "", "unknown model folder"},
		{"ls", []string{"ls", "--agent", agent}, "loras/file.safetensors", ""},
		{"dedupe", []string{"dedupe", "--agent", agent, "--dry-run"}, "would link 0 files", ""},
		{"rm traversal", []string{"rm", "--agent", agent, "../../etc/passwd"}, "", "not allowed"},
		{"rm", []string{"rm", "--agent", agent, "loras/file.safetensors"}, "deleted successfully", ""},
		{"agent down", []string{"ls", "--agent", "http://127.0.0.1:1"}, "", "cannot reach the agent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := run(tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v\nstderr: %s", err, errOut)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout %q lacks %q", out, tc.wantOut)
			}
			if tc.name == "pull" && !strings.Contains(errOut, "100.0%") {
				t.Errorf("no progress bar on stderr: %q", errOut)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "loras/file.safetensors")); err == nil {
		t.Error("rm did not delete")
	}
}
