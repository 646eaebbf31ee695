package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/comfylauncher/launcher/agent/internal/config"
	"github.com/comfylauncher/launcher/agent/internal/hub"
)

// BenchmarkDashboard measures, in Chromium, per iteration (scripts/bench/web.sh prints them):
//   - cold-KB: bytes transferred for a cold load of the dashboard (cache disabled),
//   - fcp-ms: first contentful paint, and render-ms: the projects page rendered with its data,
//   - event-ms (p50) and event-p95-ms: from publishing a progress_update in the agent to the
//     progress bar showing it.
func BenchmarkDashboard(b *testing.B) {
	fx := fixtures(b)
	// A python that never returns keeps the install in install_comfyui, so the card shows a
	// live progress bar for as long as the benchmark needs.
	py := filepath.Join(b.TempDir(), "python3")
	os.WriteFile(py, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755)
	ag := startAgent(b, func(c *config.Config) {
		c.ComfyUI.Repo = fx
		c.ComfyUI.Python = py
	})
	if code := ag.call("POST", "/api/create_project", `{"name":"bench"}`, nil); code != 200 {
		b.Fatalf("create: %d", code)
	}
	var bytes, fcp, render float64
	var delays []float64
	for i := 0; i < b.N; i++ {
		kb, f, r := coldLoad(b, ag.url)
		bytes, fcp, render = bytes+kb, fcp+f, render+r
		delays = append(delays, eventDelays(b, ag, 20)...)
	}
	sort.Float64s(delays)
	n := float64(b.N)
	b.ReportMetric(bytes/n, "cold-KB")
	b.ReportMetric(fcp/n, "fcp-ms")
	b.ReportMetric(render/n, "render-ms")
	b.ReportMetric(delays[len(delays)/2], "event-ms")
	b.ReportMetric(delays[len(delays)*95/100], "event-p95-ms")
}

// coldLoad opens the dashboard in a new tab with the cache off and returns the transferred
// KB (until the page rendered), first contentful paint and page-rendered times in ms.
func coldLoad(b *testing.B, url string) (kb, fcp, render float64) {
	ctx := tab(b)
	run(b, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		return err
	}))
	var mu sync.Mutex
	var total int64
	finished := chromedp.Events(ctx, network.LoadingFinished)
	go func() {
		for ev, err := range finished {
			if err != nil {
				return
			}
			mu.Lock()
			total += int64(ev.EncodedDataLength)
			mu.Unlock()
		}
	}()
	run(b, ctx, chromedp.Navigate(url+"/#/projects"))
	waitJS(b, ctx, `performance.getEntriesByName('page-rendered').length > 0 && document.getElementById('live').dataset.state === 'on'`, 30*time.Second)
	fcp = eval[float64](b, ctx, `(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: 0}).startTime`)
	render = eval[float64](b, ctx, `performance.getEntriesByName('page-rendered')[0].startTime`)
	time.Sleep(200 * time.Millisecond) // let the last loadingFinished events arrive
	mu.Lock()
	defer mu.Unlock()
	return float64(total) / 1024, fcp, render
}

// eventDelays publishes n progress updates for the bench project and returns, for each, the
// ms from Publish to the bar showing its percentage.
func eventDelays(b *testing.B, ag *agent, n int) []float64 {
	ctx := tab(b)
	run(b, ctx, chromedp.Navigate(ag.url+"/#/projects"))
	waitJS(b, ctx, `!!document.querySelector('article.project[data-id="bench"] .install-progress') && document.getElementById('live').dataset.state === 'on'`, time.Minute)
	run(b, ctx, do(`(() => {
		window.__marks = {};
		const card = document.querySelector('article.project[data-id="bench"]');
		new MutationObserver(() => {
			const pct = card.querySelector('.install-progress .pct');
			if (pct && !(pct.textContent in window.__marks)) window.__marks[pct.textContent] = performance.timeOrigin + performance.now();
		}).observe(card, {subtree: true, childList: true, characterData: true});
	})()`))
	var out []float64
	for i := 1; i <= n; i++ {
		pct := 3 + i // distinct from the real install's own percentages
		sent := float64(time.Now().UnixNano()) / 1e6
		ag.app.Hub().Publish(hub.ProjectTopic("bench"), "progress_update",
			map[string]any{"project_id": "bench", "progress": map[string]any{"stage": "install_comfyui", "progress": pct}})
		key := fmt.Sprintf("%d%%", pct)
		waitJS(b, ctx, fmt.Sprintf(`%q in window.__marks`, key), 10*time.Second)
		at := eval[float64](b, ctx, fmt.Sprintf(`window.__marks[%q]`, key))
		out = append(out, at-sent)
	}
	return out
}
