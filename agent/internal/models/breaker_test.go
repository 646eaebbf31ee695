package models_test

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/hub"
	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// breakerEvents passes on circuit_breaker_update payloads.
type breakerEvents chan map[string]any

func (b breakerEvents) Publish(topic, event string, data any) {
	if topic == hub.TopicBreakers && event == recovery.EventBreaker {
		if m, ok := data.(map[string]any); ok && m["operation_type"] == models.BreakerHostDownloads {
			select {
			case b <- m:
			default:
			}
		}
	}
}

// TestHostBreakerPublishes: when the downloader's per-host breaker opens, the agent publishes
// circuit_breaker_update on the breakers topic, like the recovery runner's breakers.
func TestHostBreakerPublishes(t *testing.T) {
	t.Parallel()
	s := faultserver.NewFile(1<<20, 21)
	defer s.Close()
	s.Inject(faultserver.FileFault{Status: 503}, faultserver.FileFault{Status: 503}, faultserver.FileFault{Status: 503})
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ev := breakerEvents(make(chan map[string]any, 16))
	runner := recovery.New(db, ev, recovery.Options{})
	reg := sources.Of(sources.Direct{})
	svc, err := models.New(models.Options{ModelsDir: filepath.Join(dir, "models"), Download: download.Options{
		MaxConnections: 1, Hosts: download.NewHosts(2, 1, time.Hour, nil),
		FreeSpace: func(string) (uint64, uint64, error) { return 1 << 40, 1 << 41, nil },
	}}, db, runner, ev, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer runner.Stop(context.Background())
	if _, err := svc.Downloads.Submit(ctx, models.DownloadRequest{URL: s.URL(), Folder: "vae"}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.URL())
	select {
	case m := <-ev:
		if m["target"] != u.Host || fmt.Sprint(m["state"]) != "OPEN" || m["threshold"] != 1 || m["trips"] != uint64(1) {
			t.Errorf("circuit_breaker_update %v, want host %s OPEN (trip 1, threshold 1)", m, u.Host)
		}
		if m["timeout_remaining"].(float64) <= 0 || m["timestamp"] == "" {
			t.Errorf("payload %v lacks the remaining timeout or timestamp", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no circuit_breaker_update for the host's breaker")
	}
}
