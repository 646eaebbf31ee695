package configtest_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
)

func TestOfflinePassesCheckAndDefaultDoesNot(t *testing.T) {
	t.Parallel()
	c := configtest.Offline()
	if err := configtest.Check(c); err != nil {
		t.Fatalf("Offline: %v", err)
	}
	hf, _ := url.Parse(c.Sources.HuggingFace.Endpoint)
	civ, _ := url.Parse(c.Sources.CivitAI.Endpoint)
	if hf.Hostname() == civ.Hostname() {
		t.Errorf("both hubs on host %q: one's token would be sent to the other", hf.Hostname())
	}
	err := configtest.Check(config.Default())
	if err == nil {
		t.Fatal("Check(config.Default()) = nil, want the internet URLs named")
	}
	for _, key := range []string{"manager.extension_node_map_url", "manager.github_stats_url", "manager.model_list_url",
		"manager.custom_node_list_url", "sources.huggingface.endpoint", "sources.civitai.endpoint", "comfyui.repo", "configtest.Offline"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Check(Default) does not name %s: %v", key, err)
		}
	}
}

func TestCheckTellsLocalFromRemote(t *testing.T) {
	t.Parallel()
	for repo, ok := range map[string]bool{
		"/tmp/fixtures/ComfyUI.git":                 true,
		"file:///tmp/fixtures/ComfyUI.git":          true,
		"http://127.0.0.1:5000/ComfyUI.git":         true,
		"http://localhost:5000/ComfyUI.git":         true,
		"http://[::1]:5000/ComfyUI.git":             true,
		"https://github.com/comfyanonymous/ComfyUI": false,
		"git@github.com:comfyanonymous/ComfyUI":     false,
		"http://10.0.0.1/ComfyUI.git":               false,
	} {
		c := configtest.Offline()
		c.ComfyUI.Repo = repo
		if err := configtest.Check(c); (err == nil) != ok {
			t.Errorf("comfyui.repo %q: Check = %v, want local %v", repo, err, ok)
		}
	}
	c := configtest.Offline()
	c.Manager.ModelListURL = "" // the agent falls back to the default URL on GitHub
	if err := configtest.Check(c); err == nil || !strings.Contains(err.Error(), "manager.model_list_url") {
		t.Errorf("an empty Manager URL: Check = %v", err)
	}
}

// TestTOMLIsOffline: the launcher.toml text configures what Offline does, and its URLs answer
// 404 at once.
func TestTOMLIsOffline(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if err := config.Decode([]byte(configtest.TOML(`manager.max_age = "876000h"`, `comfyui.repo = "/tmp/fixture.git"`, `comfyui.python = "python3.12"`)), c); err != nil {
		t.Fatal(err)
	}
	want := configtest.Offline()
	if !reflect.DeepEqual(c.Sources, want.Sources) || c.Manager.ModelListURL != want.Manager.ModelListURL ||
		c.Manager.ExtensionNodeMapURL != want.Manager.ExtensionNodeMapURL || c.Manager.MaxAge.Hours() != 876000 ||
		c.ComfyUI.Repo != "/tmp/fixture.git" || c.ComfyUI.Python != "python3.12" {
		t.Fatalf("TOML decodes to %+v %+v, want %+v %+v", c.Manager, c.Sources, want.Manager, want.Sources)
	}
	resp, err := http.Get(c.Manager.ModelListURL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET %s: %d, want 404", c.Manager.ModelListURL, resp.StatusCode)
	}
}

// TestTripwire runs in a child process (it changes the environment): a request beyond
// loopback fails at once through the tripwire, which names the host; loopback goes direct.
func TestTripwire(t *testing.T) {
	if os.Getenv("CONFIGTEST_TRIPWIRE_CHILD") != "1" {
		t.Parallel()
		cmd := exec.Command(os.Args[0], "-test.run=^TestTripwire$", "-test.v")
		cmd.Env = append(os.Environ(), "CONFIGTEST_TRIPWIRE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "PASS") {
			t.Fatalf("child did not run:\n%s", out)
		}
		return
	}
	check := configtest.Tripwire()
	if err := check(); err != nil {
		t.Fatalf("before any request: %v", err)
	}
	resp, err := http.Get(configtest.URL("x.json"))
	if err != nil {
		t.Fatalf("loopback request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("loopback request: %d, want the 404 server's answer directly", resp.StatusCode)
	}
	// An agent listening on all interfaces says it serves on [::]: that is not the internet.
	if resp, err := http.Get("http://[::]:" + strings.TrimPrefix(configtest.URL(""), "http://127.0.0.1:")); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET [::]: %d, want the 404 server's answer directly", resp.StatusCode)
		}
	}
	for _, u := range []string{"http://example.invalid/a.json", "https://huggingface.co/api/models"} {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("GET %s: %d, want the tripwire's 502", u, resp.StatusCode)
			}
		}
	}
	err = check()
	if err == nil || !strings.Contains(err.Error(), "example.invalid") || !strings.Contains(err.Error(), "huggingface.co:443") ||
		strings.Contains(err.Error(), "[::]") {
		t.Fatalf("check = %v, want both internet hosts named and no local one", err)
	}
}
