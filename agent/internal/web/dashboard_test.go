package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// recordCard keeps, in window.__seen, every distinct "state:progress" the card of project id
// shows, so the test can tell the bar moved through live updates.
const recordCard = `(() => {
  window.__seen = [];
  const rec = () => {
    const c = document.querySelector('article.project[data-id="%s"]');
    if (!c) return;
    const p = c.querySelector('.install-progress progress');
    const v = c.dataset.state + ':' + (p ? p.value : '');
    if (window.__seen[window.__seen.length - 1] !== v) window.__seen.push(v);
  };
  new MutationObserver(rec).observe(document.getElementById('view'), {subtree: true, childList: true, attributes: true});
  rec();
  return true;
})()`

// TestDashboardProjectLifecycle creates a project against the fake ComfyUI, watches its
// progress bar reach ready through live events, starts it, opens ComfyUI through the proxy,
// follows its logs, stops and deletes it — all through the dashboard.
func TestDashboardProjectLifecycle(t *testing.T) {
	t.Parallel()
	fx := fixtures(t)
	ag := startAgent(t, func(c *config.Config) {
		c.ComfyUI.Repo = fx
		c.ComfyUI.Python = projecttest.Python(t)
	})
	ctx := tab(t)
	dir := shotDir(t)
	reqs := watchRequests(ctx)
	run(t, ctx, chromedp.Navigate(ag.url+"/"), chromedp.WaitVisible(chromedp.CSS("#create-form")))
	waitJS(t, ctx, `document.getElementById('live').dataset.state === 'on'`, 10*time.Second)
	if s := text(t, ctx, `document.querySelector('#new-template').innerText`); !strings.Contains(s, "AnimateDiff") || !strings.Contains(s, "Empty") {
		t.Fatalf("template choices %q miss the shipped templates", s)
	}
	shoot(t, ctx, dir, "projects-empty", false)

	run(t, ctx, do(strings.Replace(recordCard, "%s", "browser-test", 1)),
		chromedp.SendKeys(chromedp.CSS("#new-name"), "Browser Test"),
		chromedp.SendKeys(chromedp.CSS("#new-port"), strconv.Itoa(projecttest.FreePort(t))),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)))
	waitJS(t, ctx, `!!document.querySelector('article.project[data-id="browser-test"]')`, 10*time.Second)
	before := reqs.count("/api/projects")
	waitJS(t, ctx, `document.querySelector('article.project[data-id="browser-test"]').dataset.state === 'ready'`, 3*time.Minute)
	seen := eval[[]string](t, ctx, `window.__seen`)
	bars := map[string]bool{}
	for _, s := range seen {
		if state, pct, _ := strings.Cut(s, ":"); pct != "" && state != "ready" {
			bars[pct] = true
		}
	}
	if len(bars) < 2 || seen[len(seen)-1] != "ready:" {
		t.Fatalf("the progress bar should move through several values and end ready; saw %v", seen)
	}
	// The bar moved by events: at most a re-read of the project when it became ready.
	if n := reqs.count("/api/projects") - before; n > 3 {
		t.Fatalf("the page fetched /api/projects %d times during the install: it polls instead of following events", n)
	}
	shoot(t, ctx, dir, "projects-ready", false)

	card := `article.project[data-id="browser-test"] `
	run(t, ctx, chromedp.Click(chromedp.CSS(card+`button[data-action="start"]`)))
	waitJS(t, ctx, `document.querySelector('article.project[data-id="browser-test"]').dataset.state === 'running'`, time.Minute)
	href := text(t, ctx, `document.querySelector('article.project[data-id="browser-test"] a[data-action="open"]').getAttribute('href')`)
	target := text(t, ctx, `document.querySelector('article.project[data-id="browser-test"] a[data-action="open"]').target`)
	if href != "/comfy/browser-test/" || target != "_blank" {
		t.Fatalf("Open ComfyUI links to %q (target %q), want /comfy/browser-test/ in a new tab", href, target)
	}
	shoot(t, ctx, dir, "projects-running", false)

	// ComfyUI through the proxy, in its own tab.
	comfy, cancel := chromedp.NewContext(ctx)
	run(t, comfy, chromedp.Navigate(ag.url+href))
	body := text(t, comfy, `document.body.innerText`)
	if !strings.Contains(body, "fake ComfyUI") {
		t.Fatalf("the proxied ComfyUI page says %q", body)
	}
	shoot(t, comfy, dir, "comfyui-proxied", false)
	cancel()

	// Live logs on the detail page: stopping adds lines without a reload.
	run(t, ctx, chromedp.Click(chromedp.CSS(card+`a[href="#/project/browser-test"]`)))
	waitJS(t, ctx, `(document.getElementById('logs')||{}).innerText?.includes('ComfyUI is running')`, 20*time.Second)
	if s := text(t, ctx, `document.getElementById('logs').innerText`); !strings.Contains(s, "step install_comfyui") {
		t.Fatalf("the log lacks the install steps:\n%s", s)
	}
	shoot(t, ctx, dir, "project-detail", true)
	logLoads := reqs.count("/api/logs/")
	run(t, ctx, chromedp.Click(chromedp.CSS(`button[data-action="stop"]`)))
	waitJS(t, ctx, `document.getElementById('logs').innerText.includes('ComfyUI stopped')`, 30*time.Second)
	if n := reqs.count("/api/logs/") - logLoads; n != 0 {
		t.Fatalf("the log was re-fetched %d times; new lines should arrive as events", n)
	}
	// Level filter: only warnings and errors remain.
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#log-level"), "error"), do(`document.getElementById('log-level').dispatchEvent(new Event('change'))`))
	waitJS(t, ctx, `document.getElementById('logs').dataset.loaded === 'error' && [...document.querySelectorAll('#logs .log')].every(l => l.classList.contains('error'))`, 10*time.Second)

	// Older pages: five lines a page, the newest page first, older ones above it on request.
	run(t, ctx, chromedp.Navigate(ag.url+"/?log_page_size=5#/project/browser-test"))
	waitJS(t, ctx, `location.search === '?log_page_size=5' && document.getElementById('logs')?.dataset.loaded === 'all'`, 20*time.Second)
	n := eval[int](t, ctx, `document.querySelectorAll('#logs .log').length`)
	last := text(t, ctx, `[...document.querySelectorAll('#logs .log')].pop().innerText`)
	if n < 1 || n > 5 || !strings.Contains(strings.ToLower(last), "stopped") {
		t.Fatalf("the newest page shows %d lines ending with %q", n, last)
	}
	firstBefore := text(t, ctx, `document.querySelector('#logs .log').innerText`)
	run(t, ctx, chromedp.Click(chromedp.CSS("#log-older")))
	waitJS(t, ctx, fmt.Sprintf(`document.querySelectorAll('#logs .log').length === %d`, n+5), 10*time.Second)
	if first := text(t, ctx, `document.querySelector('#logs .log').innerText`); first == firstBefore {
		t.Fatal("Load older did not put older lines above the newest page")
	}

	// Delete from the projects page.
	run(t, ctx, chromedp.Navigate(ag.url+"/#/projects"), chromedp.WaitVisible(chromedp.CSS(card+`button[data-action="delete"]`)),
		do(`window.confirm = () => true`), chromedp.Click(chromedp.CSS(card+`button[data-action="delete"]`)))
	waitJS(t, ctx, `!document.querySelector('article.project[data-id="browser-test"]')`, 30*time.Second)
	if code := ag.call("GET", "/api/projects/browser-test", "", nil); code != http.StatusNotFound {
		t.Fatalf("after delete GET /api/projects/browser-test = %d, want 404", code)
	}
}

// TestDashboardImport previews a workflow (the testdata fixture, and a corpus workflow when
// the shared corpus is present), sees its missing models, is told MISSING_MODELS with
// suggestions on import, imports it skipping them, and sees the failed install with Retry.
func TestDashboardImport(t *testing.T) {
	t.Parallel()
	ag := startAgent(t, nil)
	ctx := tab(t)
	dir := shotDir(t)
	files := map[string][]string{
		"fixture": {filepath.Join("testdata", "two_models_ui.json"), "missing browser_fixture_base.safetensors", "missing browser_fixture_style.safetensors"},
	}
	corpus := filepath.Join(repoRoot(), "..", "shared", "corpus", "workflows", "comfyui-web-templates__default.json")
	if _, err := os.Stat(corpus); err == nil {
		// Its node lists the model with a Hugging Face URL: not in the store, downloadable.
		files["corpus"] = []string{corpus, "downloadable v1-5-pruned-emaonly", "huggingface.co"}
	} else {
		t.Logf("corpus workflow %s absent: previewing the testdata fixture only", corpus)
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			abs, _ := filepath.Abs(f[0])
			// A new query string makes a fresh page load (a hash change alone keeps the old preview).
			run(t, ctx, chromedp.Navigate(ag.url+"/?"+name+"#/import"), chromedp.WaitReady(chromedp.CSS("#wf-file")),
				chromedp.SetUploadFiles(chromedp.CSS("#wf-file"), []string{abs}))
			waitJS(t, ctx, `!!document.getElementById('pv-models')`, 20*time.Second)
			// Models not in the store are "missing", or "downloadable" with the host they come from.
			notInStore := text(t, ctx, `[...document.querySelectorAll('#pv-models tr:not([data-status="present"])')].map(r => r.dataset.status + ' ' + r.innerText).join('\n')`)
			for _, model := range f[1:] {
				if !strings.Contains(notInStore, model) {
					t.Fatalf("models not in the store:\n%s\nwant %s among them", notInStore, model)
				}
			}
			if s := text(t, ctx, `document.getElementById('pv-vram').innerText`); !strings.Contains(s, "B") {
				t.Fatalf("VRAM estimate %q", s)
			}
			shoot(t, ctx, dir, "import-"+name, name == "fixture")
		})
	}

	// The fixture is on screen last only if its subtest ran last; load it again to import it.
	abs, _ := filepath.Abs(files["fixture"][0])
	run(t, ctx, chromedp.Navigate(ag.url+"/?import#/import"), chromedp.WaitReady(chromedp.CSS("#wf-file")), chromedp.SetUploadFiles(chromedp.CSS("#wf-file"), []string{abs}))
	waitJS(t, ctx, `!!document.getElementById('import-form')`, 20*time.Second)
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#import-name"), "Imported Flow"), chromedp.Click(chromedp.CSS(`#import-form button[type=submit]`)))
	waitJS(t, ctx, `document.querySelector('#import-form + div .alert.bad')?.innerText.includes('MISSING_MODELS')`, 20*time.Second)
	if s := text(t, ctx, `document.querySelector('#import-form + div .alert.bad').innerText`); !strings.Contains(s, "skipping_model_validation") {
		t.Fatalf("the MISSING_MODELS error shows no suggestions: %q", s)
	}
	run(t, ctx, chromedp.Click(chromedp.CSS("#import-skip")), chromedp.Click(chromedp.CSS(`#import-form button[type=submit]`)))
	waitJS(t, ctx, `location.hash === '#/project/imported-flow'`, 20*time.Second)
	// The agent's ComfyUI repository does not exist: the install fails, and the page says where
	// and what to do.
	waitJS(t, ctx, `!!document.querySelector('.failure .alert.bad') && !!document.querySelector('button[data-action="retry"]')`, time.Minute)
	if s := text(t, ctx, `document.querySelector('.failure').innerText`); !strings.Contains(s, "download comfyui") || !strings.Contains(s, "comfyui.repo") {
		t.Fatalf("failure box %q should name the step and suggest checking comfyui.repo", s)
	}
	shoot(t, ctx, dir, "project-failed", true)
}

// TestDashboardLogin logs in against an agent with a token: a wrong token is refused with the
// API's message, the right one opens the dashboard, survives a reload (sessionStorage), opens
// the live event stream, and presents the token under /comfy/ for ComfyUI's cookie.
func TestDashboardLogin(t *testing.T) {
	t.Parallel()
	const token = "browser-login-token-0123456789"
	ag := startAgent(t, func(c *config.Config) { c.Server.Token = token })
	ctx := tab(t)
	dir := shotDir(t)
	reqs := watchRequests(ctx)
	run(t, ctx, chromedp.Navigate(ag.url+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	shoot(t, ctx, dir, "login", true)
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), "wrong-token"), submit(".login form"))
	waitJS(t, ctx, `document.querySelector('.login .alert.bad')?.innerText.includes('invalid API token')`, 10*time.Second)
	if s := text(t, ctx, `document.querySelector('.login .alert.bad').innerText`); !strings.Contains(s, "Bearer") {
		t.Fatalf("the refusal shows no suggestions: %q", s)
	}
	run(t, ctx, do(`document.getElementById("token").value = ""`), chromedp.SendKeys(chromedp.CSS("#token"), token), submit(".login form"))
	waitJS(t, ctx, `!!document.getElementById('create-form')`, 10*time.Second)
	waitJS(t, ctx, `document.getElementById('live').dataset.state === 'on'`, 10*time.Second)
	if got := text(t, ctx, `sessionStorage.getItem('launcher_token')`); got != token {
		t.Fatalf("sessionStorage holds %q", got)
	}
	run(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#create-form")))
	waitJS(t, ctx, `document.getElementById('live').dataset.state === 'on'`, 10*time.Second)
	comfy := reqs.withPath("/comfy/")
	if len(comfy) < 2 || comfy[len(comfy)-1].auth != "Bearer "+token {
		t.Fatalf("the dashboard did not present the token under /comfy/ at login and on reload (requests: %q)", comfy)
	}
	// That left the HttpOnly cookie ComfyUI pages under /comfy/ load their assets with.
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{ag.url + "/comfy/some-project/"}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cookies.Cookies {
		found = found || (c.Name == api.SessionCookie && c.HTTPOnly && strings.HasPrefix(c.Path, "/comfy"))
	}
	if !found {
		t.Fatalf("no HttpOnly %s cookie for /comfy/ after login: %+v", api.SessionCookie, cookies.Cookies)
	}
}

// TestDashboardPages visits every page with data on it: a fake GPU, a model in the store, a
// finished and a failed download, the settings form; and screenshots each at 1280x800 and
// phone width, light and dark.
func TestDashboardPages(t *testing.T) {
	t.Parallel()
	blob := strings.Repeat("model-bytes ", 4096)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/good.safetensors" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(blob))
	}))
	defer files.Close()
	fx := fixtures(t)
	// A python that never returns holds the project's install in install_comfyui, so the
	// projects page shows its progress bar.
	py := filepath.Join(t.TempDir(), "python3")
	os.WriteFile(py, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755)
	ag := startAgent(t, func(c *config.Config) {
		c.ComfyUI.Repo = fx
		c.ComfyUI.Python = py
		c.GPU.Provider = "fake"
		c.GPU.Fake = []config.FakeGPU{{UUID: "GPU-11111111-2222-3333-4444-555555555555", Name: "Fake RTX 4090", MemoryTotalMB: 24564, MemoryUsedMB: 3100}}
		c.Downloads.MaxAttempts = 1
	})
	os.MkdirAll(filepath.Join(ag.cfg.Paths.ModelsDir, "loras"), 0o755)
	os.WriteFile(filepath.Join(ag.cfg.Paths.ModelsDir, "loras", "style.safetensors"), []byte(strings.Repeat("x", 300000)), 0o644)
	// The project uses the lora in the store (for the in-use guard below).
	lj := `{"format":"comfyui_launcher","version":"1.0","workflow_json":{"nodes":[]},"snapshot_json":{"comfyui":null,"git_custom_nodes":{}},` +
		`"files":[[{"download_url":"https://example.invalid/style.safetensors","dest_relative_path":"models/loras/style.safetensors"}]]}`
	if code := ag.call("POST", "/api/create_project", `{"name":"uses style","launcher_json":`+lj+`}`, nil); code != 200 {
		t.Fatalf("create a project using the lora: %d", code)
	}
	ctx := tab(t)
	dir := shotDir(t)

	run(t, ctx, chromedp.Navigate(ag.url+"/#/downloads"), chromedp.WaitVisible(chromedp.CSS("#dl-url")),
		chromedp.SendKeys(chromedp.CSS("#dl-url"), files.URL+"/good.safetensors"), submit("#dl-url"))
	waitJS(t, ctx, `[...document.querySelectorAll('#downloads tbody tr')].some(r => r.innerText.includes('success'))`, 30*time.Second)
	run(t, ctx, do(`document.getElementById("dl-url").value = ""`), chromedp.SendKeys(chromedp.CSS("#dl-url"), files.URL+"/missing.safetensors"), submit("#dl-url"))
	waitJS(t, ctx, `[...document.querySelectorAll('#downloads tbody tr')].some(r => /failed|exhausted/.test(r.innerText))`, 60*time.Second)
	shoot(t, ctx, dir, "downloads", true)

	pages := []struct{ hash, ready, want string }{
		{"models", "#models", "good.safetensors"},
		{"gpus", "article.gpu", "Fake RTX 4090"},
		{"operations", "#operations", "download_model"},
		{"extensions", "#extensions > *", ""},
		{"settings", "#settings-form", "civitai"},
		{"projects", `article.project[data-id="uses-style"] .install-progress`, "install comfyui"},
	}
	for _, p := range pages {
		run(t, ctx, chromedp.Navigate(ag.url+"/#/"+p.hash), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		if s := text(t, ctx, `document.getElementById('view').innerText`); !strings.Contains(s, p.want) {
			t.Fatalf("%s page lacks %q:\n%s", p.hash, p.want, s)
		}
		shoot(t, ctx, dir, p.hash, true)
	}
	run(t, ctx, do(`location.hash = '#/models'`))
	waitJS(t, ctx, `!!document.querySelector('#by-type .chart') && document.querySelector('#by-type').innerText.includes('loras')`, 10*time.Second)

	// The in-use guard: a model a project uses is deleted only after a second confirmation.
	style := filepath.Join(ag.cfg.Paths.ModelsDir, "loras", "style.safetensors")
	row := `tr[data-path="loras/style.safetensors"]`
	run(t, ctx, chromedp.Navigate(ag.url+"/?guard#/models"), chromedp.WaitVisible(chromedp.CSS(row)))
	waitJS(t, ctx, "document.querySelector(`"+row+"`).innerText.includes('uses-style')", 10*time.Second)
	run(t, ctx, do(`window.confirm = () => false`), chromedp.Click(chromedp.CSS(row+" button")))
	waitJS(t, ctx, `document.querySelector('#view .alert.bad')?.innerText.includes('in use')`, 10*time.Second)
	if _, err := os.Stat(style); err != nil {
		t.Fatalf("a model in use was deleted without the second confirmation: %v", err)
	}
	shoot(t, ctx, dir, "models-in-use", false)
	run(t, ctx, do(`window.confirm = () => true`), chromedp.Click(chromedp.CSS(row+" button")))
	waitJS(t, ctx, "!document.querySelector(`"+row+"`)", 10*time.Second)
	if _, err := os.Stat(style); !os.IsNotExist(err) {
		t.Fatalf("confirmed delete left the file: %v", err)
	}

	// Settings: the token is saved with a visible confirmation and shown masked afterwards.
	run(t, ctx, chromedp.Navigate(ag.url+"/#/settings"), chromedp.WaitVisible(chromedp.CSS("#token-civitai")),
		chromedp.SendKeys(chromedp.CSS("#token-civitai"), "civitai-secret-9876"), submit("#settings-form"))
	waitJS(t, ctx, `document.getElementById('settings-status').innerText.includes('Saved')`, 10*time.Second)
	if s := text(t, ctx, `document.getElementById('token-civitai').placeholder`); strings.Contains(s, "civitai-secret") || !strings.HasSuffix(s, "9876") {
		t.Fatalf("saved token shown as %q, want it masked", s)
	}
	shoot(t, ctx, dir, "settings-saved", false)
}

// TestDashboardKeyboard uses the dashboard with the keyboard alone: Tab reaches the skip link,
// every section and the create form; Enter creates a project; Tab then reaches its Retry
// button once the install failed (the agent's ComfyUI repository does not exist).
func TestDashboardKeyboard(t *testing.T) {
	t.Parallel()
	ag := startAgent(t, nil)
	ctx := tab(t)
	run(t, ctx, chromedp.Navigate(ag.url+"/"), chromedp.WaitVisible(chromedp.CSS("#create-form")))
	focused := func() string {
		return text(t, ctx, `(() => { const e = document.activeElement; return e.id || e.dataset.action || e.getAttribute('href') || e.textContent.trim(); })()`)
	}
	tabTo := func(want string, max int) {
		t.Helper()
		var seen []string
		for i := 0; i < max; i++ {
			run(t, ctx, chromedp.KeyEvent("\t"))
			if f := focused(); f == want {
				return
			} else {
				seen = append(seen, f)
			}
		}
		t.Fatalf("Tab never reached %q; focus went through %q", want, seen)
	}
	tabTo("#view", 1) // the skip link
	for _, section := range []string{"#/projects", "#/import", "#/downloads", "#/models", "#/gpus", "#/operations", "#/extensions", "#/settings"} {
		tabTo(section, 2)
	}
	tabTo("new-name", 3)
	run(t, ctx, chromedp.KeyEvent("Keyboard only\r"))
	waitJS(t, ctx, `document.querySelector('article.project[data-id="keyboard-only"]')?.dataset.state === 'failed'`, time.Minute)
	tabTo("retry", 12)
}

// TestDashboardDownloadControls pauses, resumes and cancels a download from the Downloads
// page while its server holds the transfer half way (no timing: it waits for each state).
func TestDashboardDownloadControls(t *testing.T) {
	t.Parallel()
	const total, first = 1 << 20, 64 << 10
	done := make(chan struct{})
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(total))
		w.WriteHeader(http.StatusOK) // no Range support: each resume starts again
		w.Write(make([]byte, first))
		w.(http.Flusher).Flush()
		select { // hold the rest until the agent gives up this attempt
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer files.Close()
	defer close(done)
	ag := startAgent(t, nil)
	ctx := tab(t)
	dir := shotDir(t)
	row := `document.querySelector('#downloads tbody tr[data-id]')`
	run(t, ctx, chromedp.Navigate(ag.url+"/#/downloads"), chromedp.WaitVisible(chromedp.CSS("#dl-url")),
		chromedp.SendKeys(chromedp.CSS("#dl-url"), files.URL+"/held.safetensors"), submit("#dl-url"))
	waitJS(t, ctx, row+`?.innerText.includes('in_progress') && !!`+row+`.querySelector('button[data-label="Pause"]')`, 30*time.Second)
	shoot(t, ctx, dir, "download-running", false)
	// Progress keeps redrawing the row (every ProgressInterval while the server holds the
	// transfer); the buttons must stay the same elements, or a click whose press and release
	// straddle a redraw is lost.
	run(t, ctx, do(`(() => { const r = `+row+`; window.__pause = r.querySelector('button[data-label="Pause"]'); window.__redraws = 0;
	  new MutationObserver(() => window.__redraws++).observe(r, {childList: true, subtree: true}); })()`))
	waitJS(t, ctx, `window.__redraws >= 2`, 30*time.Second)
	if !eval[bool](t, ctx, row+`.querySelector('button[data-label="Pause"]') === window.__pause && window.__pause.isConnected`) {
		t.Fatal("a progress update replaced the Pause button: a click during a redraw would be lost")
	}
	run(t, ctx, chromedp.Click(chromedp.CSS(`#downloads tr[data-id] button[data-label="Pause"]`)))
	waitJS(t, ctx, row+`?.innerText.includes('paused') && !!`+row+`.querySelector('button[data-label="Resume"]')`, 30*time.Second)
	run(t, ctx, chromedp.Click(chromedp.CSS(`#downloads tr[data-id] button[data-label="Resume"]`)))
	waitJS(t, ctx, `!`+row+`?.innerText.includes('paused') && !!`+row+`.querySelector('button[data-label="Pause"]')`, 30*time.Second)
	run(t, ctx, do(`window.confirm = () => true`), chromedp.Click(chromedp.CSS(`#downloads tr[data-id] button[data-label="Cancel"]`)))
	waitJS(t, ctx, row+`?.innerText.includes('cancelled')`, 30*time.Second)
}

// TestDashboardExtensions renders GET /api/extensions in the shape the extension registry
// serves (its Status: state, capabilities, stats, last error). The extension system is built
// elsewhere, so the browser answers that one request itself (DevTools Fetch interception); the
// agent's own 404 for it is TestDashboardPages' "no extension system".
func TestDashboardExtensions(t *testing.T) {
	t.Parallel()
	ag := startAgent(t, nil)
	ctx := tab(t)
	body := []byte(`{"extensions":[
	  {"id":"hf-mirror","version":"1.2.0","transport":"wasm","capabilities":["model_source"],"state":"ready",
	   "stats":{"calls":12,"errors":1,"timeouts":0,"p50_ms":3.5,"p99_ms":41.2}},
	  {"id":"civitai-plus","version":"0.3.1","transport":"plugin","capabilities":["model_source","workflow_parser"],"state":"failed",
	   "last_error":"plugin exited: signal: killed","last_error_at":"2026-01-02T03:04:05Z","stats":{"calls":3,"errors":3,"timeouts":2}}]}`)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/api/extensions"}}}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}}, Body: body})
		}
	}()
	run(t, ctx, chromedp.Navigate(ag.url+"/#/extensions"), chromedp.WaitVisible(chromedp.CSS(`article[data-id="civitai-plus"]`)))
	ok := text(t, ctx, `document.querySelector('article[data-id="hf-mirror"]').innerText`)
	bad := text(t, ctx, `document.querySelector('article[data-id="civitai-plus"]').innerText`)
	for _, want := range []string{"ready", "wasm", "model_source", "12 calls, 1 errors", "p50 3.5 ms"} {
		if !strings.Contains(ok, want) {
			t.Fatalf("hf-mirror card lacks %q:\n%s", want, ok)
		}
	}
	for _, want := range []string{"failed", "model_source, workflow_parser", "2 timeouts", "Last error", "plugin exited: signal: killed"} {
		if !strings.Contains(bad, want) {
			t.Fatalf("civitai-plus card lacks %q:\n%s", want, bad)
		}
	}
	shoot(t, ctx, shotDir(t), "extensions-listed", true)
}
