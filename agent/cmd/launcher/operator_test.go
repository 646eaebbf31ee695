package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestLoggerFormats(t *testing.T) {
	var text, js bytes.Buffer
	newLogger(&text, "text", "warn").Info("hidden")
	newLogger(&text, "text", "warn").Warn("shown", "k", 1)
	if got := text.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "msg=shown k=1") {
		t.Fatalf("text log: %q", got)
	}
	newLogger(&js, "json", "debug").Debug("detail", "project", "p1")
	var rec map[string]any
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil || rec["msg"] != "detail" || rec["project"] != "p1" || rec["level"] != "DEBUG" {
		t.Fatalf("json log line %q: %v %v", js.String(), rec, err)
	}
}

func TestVersionPrintsCommitAndGo(t *testing.T) {
	var out bytes.Buffer
	printVersion(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "launcher ") || !strings.HasPrefix(lines[1], "commit: ") ||
		lines[2] != "go: "+runtime.Version() {
		t.Fatalf("version output:\n%s", out.String())
	}
	old := commit
	commit = "abc1234"
	defer func() { commit = old }()
	out.Reset()
	printVersion(&out)
	if !strings.Contains(out.String(), "commit: abc1234") {
		t.Fatalf("-X main.commit is not shown:\n%s", out.String())
	}
}

func TestProgressPrinter(t *testing.T) {
	var tty bytes.Buffer
	p := &progressPrinter{w: &tty, tty: true}
	p.show(10, "install_comfyui", "")
	p.show(10, "install_comfyui", "") // unchanged: not redrawn
	p.show(55, "download_files", "model.safetensors")
	p.done()
	got := tty.String()
	if strings.Count(got, "\r") != 2 || !strings.Contains(got, "[################--------------]  55.0%  download_files  model.safetensors") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("terminal progress: %q", got)
	}
	var plain bytes.Buffer
	p = &progressPrinter{w: &plain}
	p.show(10.2, "install_comfyui", "")
	p.show(10.7, "install_comfyui", "") // same whole percent: no new line
	p.show(55, "download_files", "model.safetensors")
	p.done()
	if want := "10% install_comfyui\n55% download_files model.safetensors\n"; plain.String() != want {
		t.Fatalf("plain progress %q, want %q", plain.String(), want)
	}
}
