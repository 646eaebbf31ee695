package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/comfylauncher/launcher/agent/internal/app"
	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/config/configtest"
	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

// The browser tests drive the embedded dashboard in a real headless Chromium (one browser for
// the package run, one tab per test). LAUNCHER_BROWSER_REQUIRED=1 (set by .ci/run) turns a
// missing browser into a failure instead of a skip. LAUNCHER_SCREENSHOTS=DIR keeps the
// screenshots there; otherwise they go to the test's temp dir.

var (
	browserCtx   context.Context
	browserSkip  string
	fixturesDir  string
	fixturesRepo string
	fixturesErr  error
	fixtureOnce  sync.Once
)

func TestMain(m *testing.M) {
	os.Setenv("FAKE_COMFYUI_DELAY", "0.1")
	code := func() int {
		path := findChromium()
		if path == "" {
			browserSkip = "chromium not found (apt-get install chromium); set LAUNCHER_BROWSER_REQUIRED=1 to make this a failure"
			if os.Getenv("LAUNCHER_BROWSER_REQUIRED") == "1" {
				fmt.Fprintln(os.Stderr, "LAUNCHER_BROWSER_REQUIRED=1 but no chromium on PATH: install it with apt-get install chromium")
				return 1
			}
		}
		profile, err := os.MkdirTemp("", "launcher-chromium-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(profile)
		if path != "" {
			opts := append(chromedp.DefaultExecAllocatorOptions[:],
				chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
				chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
				chromedp.Flag("disable-background-networking", true),
				chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
				chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 800))
			actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
			defer cancelAlloc()
			bctx, cancelBrowser := chromedp.NewContext(actx)
			defer cancelBrowser()
			if err := chromedp.Do(bctx); err != nil { // starts the browser
				fmt.Fprintln(os.Stderr, "start chromium:", err)
				return 1
			}
			browserCtx = bctx
		}
		defer func() {
			if fixturesDir != "" {
				os.RemoveAll(fixturesDir)
			}
			projecttest.Cleanup()
		}()
		return configtest.Run(m) // chromium, started above, stays outside the tripwire
	}()
	os.Exit(code)
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// fixtures builds the fake ComfyUI git repositories once per package run and returns the
// ComfyUI repository.
func fixtures(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"git", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: needed to install projects", tool)
		}
	}
	fixtureOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "launcher-web-fixtures-")
		if err != nil {
			fixturesErr = err
			return
		}
		fixturesDir = tmp
		f, err := projecttest.Build(tmp)
		fixturesRepo, fixturesErr = f.ComfyUI, err
	})
	if fixturesErr != nil {
		t.Fatal(fixturesErr)
	}
	return fixturesRepo
}

// agent runs a whole agent on a temp data dir, listening on an ephemeral loopback port.
type agent struct {
	app *app.App
	url string
	cfg *config.Config
}

func startAgent(t testing.TB, edit func(c *config.Config)) *agent {
	t.Helper()
	tmp := t.TempDir()
	// No internet in tests: the Manager data files answer 404 on loopback, so the start-up
	// fetch, which analyses wait for, fails at once.
	cfg := configtest.Offline()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Paths.DataDir = filepath.Join(tmp, "data")
	cfg.Paths.ModelsDir = filepath.Join(tmp, "data", "models")
	cfg.GPU.Provider = "none"
	cfg.ComfyUI.Repo = filepath.Join(tmp, "no-such-repo.git")
	cfg.ComfyUI.ReadyTimeout = config.Duration{Duration: 60 * time.Second}
	if edit != nil {
		edit(cfg)
	}
	configtest.Require(t, cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.DiscardHandler), "test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(s string) { addr <- s }) }()
	var url string
	select {
	case s := <-addr:
		url = "http://" + s
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	ag := &agent{app: a, url: url, cfg: cfg}
	t.Cleanup(func() {
		ag.stopAll()
		cancel()
		<-done
	})
	return ag
}

// stopAll stops every running project: ComfyUI outlives the agent by design.
func (ag *agent) stopAll() {
	var ps []struct {
		ID string `json:"id"`
	}
	if ag.call("GET", "/api/projects", "", &ps) != 200 {
		return
	}
	for _, p := range ps {
		ag.call("POST", "/api/projects/"+p.ID+"/stop", "", nil)
	}
}

func (ag *agent) call(method, path, body string, out any) int {
	req, _ := http.NewRequest(method, ag.url+path, strings.NewReader(body))
	if ag.cfg.Server.Token != "" {
		req.Header.Set("Authorization", "Bearer "+ag.cfg.Server.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// tab opens a new browser tab for the test, 1280x800, light, with network events on.
func tab(t testing.TB) context.Context {
	t.Helper()
	if browserCtx == nil {
		t.Skip(browserSkip)
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	run(t, ctx, viewport(1280, 800, false), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	}))
	return ctx
}

func viewport(w, h int64, dark bool) chromedp.Action[chromedp.Void] {
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride,
			emulation.SetDeviceMetricsOverrideParams{Width: w, Height: h, DeviceScaleFactor: 1, Mobile: w < 700}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia,
			emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// pageText is the start of the page's text, for failure messages.
func pageText(ctx context.Context) string {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ''`))
	return s
}

func run(t testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v\npage text:\n%s", err, pageText(ctx))
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v\npage text:\n%s", expr, err, pageText(ctx))
	}
	return v
}

// do evaluates a JavaScript expression for its effect.
func do(expr string) chromedp.Action[chromedp.Void] { return chromedp.Evaluate[chromedp.Void](expr) }

// submit clicks the submit button of the form that holds (or is) sel, as a person would;
// chromedp.Submit calls form.submit(), which skips the page's submit handler.
func submit(sel string) chromedp.Action[chromedp.Void] {
	return do(`(() => { const el = document.querySelector(` + "`" + sel + "`" + `); (el.form || el.closest('form') || el).querySelector('button[type=submit]').click(); })()`)
}

// waitJS polls a JavaScript expression in the page until it is true.
func waitJS(t testing.TB, ctx context.Context, expr string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v\npage text:\n%s", expr, err, pageText(ctx))
	}
}

func text(t testing.TB, ctx context.Context, expr string) string { return eval[string](t, ctx, expr) }

func shotDir(t testing.TB) string {
	if d := os.Getenv("LAUNCHER_SCREENSHOTS"); d != "" {
		os.MkdirAll(d, 0o755)
		return d
	}
	return t.TempDir()
}

// shoot saves a full-page PNG of the current page; all=true adds phone width and dark mode.
func shoot(t testing.TB, ctx context.Context, dir, name string, all bool) {
	t.Helper()
	type variant struct {
		suffix string
		w, h   int64
		dark   bool
	}
	vs := []variant{{"desktop-light", 1280, 800, false}}
	if all {
		vs = append(vs, variant{"desktop-dark", 1280, 800, true}, variant{"phone-light", 390, 844, false}, variant{"phone-dark", 390, 844, true})
	}
	for _, v := range vs {
		run(t, ctx, viewport(v.w, v.h, v.dark))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, viewport(1280, 800, false))
}

// requests records the page's requests (path and Authorization header) from now on.
type requests struct {
	mu   sync.Mutex
	seen []request
}

type request struct{ path, auth string }

func watchRequests(ctx context.Context) *requests {
	r := &requests{}
	evs := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range evs {
			if err != nil {
				return
			}
			u, perr := url.Parse(ev.Request.URL)
			if perr != nil {
				continue
			}
			auth, _ := ev.Request.Headers["Authorization"].(string)
			r.mu.Lock()
			r.seen = append(r.seen, request{u.Path, auth})
			r.mu.Unlock()
		}
	}()
	return r
}

// count is how many requests so far had a path starting with prefix.
func (r *requests) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.seen {
		if strings.HasPrefix(q.path, prefix) {
			n++
		}
	}
	return n
}

func (r *requests) withPath(path string) []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []request
	for _, q := range r.seen {
		if q.path == path {
			out = append(out, q)
		}
	}
	return out
}
