// Package selftest checks and measures the recovery layer as the agent is configured, outside
// recovery.Runner: the runner's unit checks (POST /api/recovery/test), the fault scenarios
// (GET /api/recovery/testing/scenarios, POST /api/recovery/testing/run), and the validate and
// benchmark measurements (POST /api/recovery/performance/validate and /benchmark); package
// selftesthttp serves them. Every scratch runner gets the agent's own [recovery] options
// (policies, breaker, workers, attempts) and a scratch nutsdb store on disk under
// Options.ScratchDir (<data_dir>/tmp), removed afterwards; the crash scenario re-opens the store
// files as a killed runner left them. Every transfer is a real download by models/download,
// with the configured [downloads] host limits, from the loopback fault server into a scratch
// directory, and the scenarios check the published file's sha256; every other number is a
// request parameter or a documented default, and each response says what was run ("run").
package selftest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// Suite serves the self-test, scenario, validate and benchmark endpoints for the agent's runner.
type Suite struct {
	agent   *recovery.Runner
	dl      Downloads
	scratch string // parent of the per-run scratch directories: Options.ScratchDir
	log     *slog.Logger
}

// Downloads are the agent's configured [downloads] limits the measured downloader gets (a
// fresh instance, so a run never trips the agent's own host breakers).
type Downloads struct {
	PerHostConnections int           `json:"per_host_connections"`
	BreakerThreshold   int           `json:"breaker_threshold"`
	BreakerCooldown    time.Duration `json:"breaker_cooldown_ns"`
}

// New measures agent's configuration; scratch runs live in directories under the runner's
// Options.ScratchDir (os.TempDir() when empty), removed after each run.
func New(agent *recovery.Runner, dl Downloads, log *slog.Logger) *Suite {
	dir := agent.Options().ScratchDir
	if dir == "" {
		dir = os.TempDir()
	}
	return &Suite{agent: agent, dl: dl, scratch: dir, log: log}
}

// env is one measured run: the fault server, the real downloader writing under dir, and a
// runner with the agent's options on a nutsdb store in dir.
type env struct {
	dir  string
	srv  *faultserver.FileServer
	disk *disk
	tr   transfer
	db   *store.DB
	r    *recovery.Runner
	seq  atomic.Int64
}

// operation is the function name of the measured operations.
const operation = "selftest_download"

func (p *Suite) newEnv(ctx context.Context, attemptTimeout time.Duration, payloadBytes int) (*env, error) {
	if err := os.MkdirAll(p.scratch, 0o755); err != nil {
		return nil, recovery.APIError(err, "create the scratch directory")
	}
	dir, err := os.MkdirTemp(p.scratch, "recovery-selftest-")
	if err != nil {
		return nil, recovery.APIError(err, "create the scratch directory")
	}
	e := &env{dir: dir, disk: newDisk()}
	if e.srv, err = faultserver.Start(int64(payloadBytes), payloadSeed); err != nil {
		e.close()
		return nil, recovery.APIError(err, "start the loopback fault server")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	e.tr = transfer{dir: filepath.Join(dir, "files"), dl: newDownloader(p.dl, download.Options{Client: client, OpenFile: e.disk.open}), attemptTimeout: attemptTimeout}
	if e.db, err = store.Open(filepath.Join(dir, "db"), nil); err != nil {
		e.close()
		return nil, recovery.APIError(err, "open the scratch store")
	}
	opts := p.agent.Options()
	opts.Logger = p.log
	e.r = recovery.New(e.db, nil, opts)
	e.r.Register(e.tr.definition(operation))
	if err := e.r.Start(ctx); err != nil {
		e.close()
		return nil, recovery.APIError(err, "start the scratch runner")
	}
	return e, nil
}

// payloadSeed generates the measured files' content.
const payloadSeed = 16

// fetch is one baseline transfer without the recovery layer; the file is removed again (the
// measurement is the transfer, not the disk filling up).
func (e *env) fetch(ctx context.Context, url, sum string) error {
	dest, err := e.tr.fetch(ctx, url, sum, &memCheckpoint{}, fmt.Sprintf("f%d", e.seq.Add(1)))
	e.remove(dest)
	return err
}

// remove deletes a transfer's file and partial.
func (e *env) remove(dest string) {
	if dest != "" {
		_ = os.Remove(dest)
		_ = os.Remove(dest + ".part")
	}
}

// close stops the runner, closes the store and removes the scratch directory.
func (e *env) close() {
	if e.r != nil {
		_ = e.r.Stop(context.Background())
	}
	if e.db != nil {
		_ = e.db.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	_ = os.RemoveAll(e.dir)
}

// memCheckpoint keeps a baseline transfer's resume state in memory: the baseline has no
// recovery layer, so nothing would read a persisted one.
type memCheckpoint struct {
	st download.State
	ok bool
}

func (m *memCheckpoint) Save(s download.State) error { m.st, m.ok = s, true; return nil }
func (m *memCheckpoint) Load(s *download.State) (bool, error) {
	if m.ok {
		*s = m.st
	}
	return m.ok, nil
}

// downloaderDescription is Run.Downloader.
const downloaderDescription = "models/download (the agent's downloader: resumable, sha256-verified) into a scratch directory on disk, one connection per file, with the configured [downloads] host limits and breaker"

// Run says what a measurement ran, so a reader can judge the numbers.
type Run struct {
	// Policies are the agent's configured per-class retry policies the scratch runner used.
	Policies map[string]PolicyView `json:"policies"`
	Breaker  BreakerView           `json:"breaker"`
	Workers  int                   `json:"workers"`
	// MaxAttempts is [recovery] max_attempts.
	MaxAttempts int `json:"max_attempts"`
	// Store is the kind of store the operations were persisted in.
	Store string `json:"store"`
	// Downloader is the component that performed the transfers, and its host limits.
	Downloader     string    `json:"downloader"`
	DownloadLimits Downloads `json:"download_limits"`
	// Server is what served the transfers.
	Server string `json:"server"`
	// Parameters are the effective request parameters, defaults filled in.
	Parameters map[string]any `json:"parameters"`
}

// PolicyView is one class's policy with readable durations.
type PolicyView struct {
	Retry       bool   `json:"retry"`
	MaxAttempts int    `json:"max_attempts"`
	BaseDelay   string `json:"base_delay"`
	MaxDelay    string `json:"max_delay"`
}

// BreakerView is the configured circuit breaker.
type BreakerView struct {
	Threshold   int    `json:"threshold"`
	OpenTimeout string `json:"open_timeout"`
	HalfOpenMax int    `json:"half_open_max"`
}

func (p *Suite) describe(params map[string]any) Run {
	o := p.agent.Options()
	run := Run{
		Policies: map[string]PolicyView{}, Workers: o.Workers, MaxAttempts: o.MaxAttempts,
		Breaker:        BreakerView{Threshold: o.Breaker.Threshold, OpenTimeout: o.Breaker.OpenTimeout.String(), HalfOpenMax: o.Breaker.HalfOpenMax},
		Store:          "scratch nutsdb store on disk under data_dir/tmp, removed after the run",
		Downloader:     downloaderDescription,
		DownloadLimits: p.dl,
		Server:         "loopback fault server (recovery/faultserver)",
		Parameters:     params,
	}
	classes := make([]string, 0, len(o.Policies))
	for c := range o.Policies {
		classes = append(classes, string(c))
	}
	sort.Strings(classes)
	for _, c := range classes {
		pol := o.Policies[recovery.Class(c)]
		run.Policies[c] = PolicyView{Retry: pol.Retry, MaxAttempts: pol.MaxAttempts, BaseDelay: pol.BaseDelay.String(), MaxDelay: pol.MaxDelay.String()}
	}
	return run
}

func invalid(format string, args ...any) *apierr.Error {
	return apierr.Newf(apierr.Invalid, "ValidationError", format, args...)
}
