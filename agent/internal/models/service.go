// Package models is the shared model store: ComfyUI's folder layout under models_dir, an index
// of every file (size, mtime, sha256 computed once in the background, source and validators),
// downloads run as recovery operations, dedupe by hard links, storage usage and update checks.
// Projects see the store through a generated extra_model_paths.yaml; package modelshttp serves
// it over the REST API.
//
// The Service is made of small parts, one responsibility each: Catalog (what the store
// holds), Storage (how its space is used and freed), Downloads (download requests),
// DownloadOps (the download operations, listed and controlled) and UpdateChecker (whether
// stored files changed upstream); inside them tree (the one place that keeps paths inside the
// store), index and indexStore (the file index and its persistence) and downloadOp (the
// recovery operation's steps).
package models

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/models/sources"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// Publisher delivers events (topics and names in package events); the app passes the hub.
type Publisher = events.Publisher

// ProjectModels tells which models each project uses: project id -> model references
// "folder/name" (folder keys, aliases or store directories).
type ProjectModels interface {
	ModelsByProject() map[string][]string
}

// Runner is the part of *recovery.Runner the store uses.
type Runner interface {
	Register(def recovery.Definition)
	Submit(ctx context.Context, function string, meta map[string]any) (string, error)
	Get(id string) (recovery.Operation, error)
	List(f recovery.Filter) ([]recovery.Operation, error)
	Cancel(id string) error
	Pause(id string) error
	Resume(id string) error
	Wait(ctx context.Context, id string) (recovery.Operation, error)
}

// Options configure the Service.
type Options struct {
	// ModelsDir is the store root.
	ModelsDir string
	// ExtraFolders adds custom pack folders: key -> directories relative to ModelsDir.
	ExtraFolders map[string][]string
	// Download configures the downloader (connections, checkpoints, disk margin, clients).
	Download download.Options
	// MaxAttempts per download operation (0: the runner's default).
	MaxAttempts int
	// MaxConcurrent files download at once (3); further downloads wait in their step.
	MaxConcurrent int
	// UpdateConcurrency bounds parallel requests of check-updates (4).
	UpdateConcurrency int
	Logger            *slog.Logger
}

// FunctionDownload is the recovery operation type of a model download.
const FunctionDownload = "download_model"

// Service is the model store: its parts, and the few calls other packages make on the store
// as a whole.
type Service struct {
	// Catalog lists and looks up the stored models.
	Catalog *Catalog
	// Storage reports and frees the store's space (usage, delete, dedupe).
	Storage *Storage
	// Downloads takes download requests.
	Downloads *Downloads
	// DownloadOps lists, pauses, resumes and cancels the download operations.
	DownloadOps *DownloadOps
	// Updates checks whether stored files changed upstream.
	Updates *UpdateChecker

	use *projectUse
	reg *sources.Resolver
}

// New builds the store and registers the download operation with runner. kv persists the
// index (nil keeps it in memory); pub may be nil.
func New(opts Options, kv KV, runner Runner, pub Publisher, reg *sources.Resolver) (*Service, error) {
	if opts.ModelsDir == "" {
		return nil, fmt.Errorf("models: models_dir is empty")
	}
	root, err := filepath.Abs(opts.ModelsDir)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 3
	}
	if opts.UpdateConcurrency <= 0 {
		opts.UpdateConcurrency = 4
	}
	if reg == nil {
		reg = sources.Of()
	}
	if pub == nil {
		pub = events.Nop{}
	}
	t := &tree{root: root, partDir: filepath.Join(root, ".partial")}
	if err := os.MkdirAll(t.partDir, 0o755); err != nil {
		return nil, fmt.Errorf("models: create %s: %w", t.partDir, err)
	}
	layout := NewLayout(opts.ExtraFolders)
	ix, err := newIndex(root, layout, kv)
	if err != nil {
		return nil, err
	}
	dopt := opts.Download
	if dopt.Credentials == nil {
		dopt.Credentials = func(host string) (download.Credential, bool) {
			c, ok := reg.Credential(host)
			return download.Credential(c), ok
		}
	}
	if dopt.Hosts == nil {
		dopt.Hosts = download.NewHosts(8, 5, 30*time.Second, nil)
	}
	dopt.Hosts.OnChange(func(c download.HostBreaker) { publishHostBreaker(pub, c) })
	ix.persist.log = opts.Logger.With("component", "models")
	dl := download.New(dopt)
	use := &projectUse{layout: layout}
	catalog := &Catalog{tree: t, layout: layout, ix: ix, use: use}
	s := &Service{
		Catalog: catalog,
		Storage: &Storage{tree: t, layout: layout, ix: ix, use: use},
		Downloads: &Downloads{tree: t, layout: layout, catalog: catalog, runner: runner,
			settings: Settings{MaxConcurrent: opts.MaxConcurrent, MaxAttempts: opts.MaxAttempts, Download: dl.Options()}},
		DownloadOps: &DownloadOps{runner: runner},
		Updates:     newUpdateChecker(ix, reg, opts.Download.Client, opts.UpdateConcurrency),
		use:         use,
		reg:         reg,
	}
	if runner != nil {
		runner.Register((&downloadOp{tree: t, layout: layout, ix: ix, catalog: catalog, dl: dl, reg: reg, pub: pub,
			maxAttempts: opts.MaxAttempts, slots: make(chan struct{}, opts.MaxConcurrent)}).definition())
	}
	return s, nil
}

// Start indexes the store and hashes unhashed files in the background until ctx ends.
func (s *Service) Start(ctx context.Context) error { return s.Catalog.Start(ctx) }

// Rescan re-reads the store (after files were added or removed behind the agent's back).
func (s *Service) Rescan() error { return s.Catalog.Rescan() }

// SetProjects wires the provider of used_by_projects (nil-safe).
func (s *Service) SetProjects(p ProjectModels) { s.use.set(p) }

// Sources returns the model sources and their credentials.
func (s *Service) Sources() *sources.Resolver { return s.reg }

// ExtraModelPathsYAML is the extra_model_paths.yaml pointing a project's ComfyUI at the store.
func (s *Service) ExtraModelPathsYAML() []byte { return s.Catalog.ExtraModelPathsYAML() }

// Lookup finds a model by folder key (or alias) and name (Catalog.Lookup).
func (s *Service) Lookup(folder, name string) (path string, size int64, ok bool) {
	return s.Catalog.Lookup(folder, name)
}

// CheckDest tells whether the store can provide a project file meant for folder/name
// (Catalog.CheckDest).
func (s *Service) CheckDest(folder, name string) error { return s.Catalog.CheckDest(folder, name) }

// Suggest asks the model sources where a model can be downloaded from; failures name the
// sources that failed.
func (s *Service) Suggest(ctx context.Context, q sdk.ModelQuery) ([]sdk.ModelCandidate, []extension.Failure) {
	return s.reg.Suggest(ctx, q)
}

// EnsureFile makes sure the requested file is in the store, downloading it when it is not
// (Downloads.EnsureFile).
func (s *Service) EnsureFile(ctx context.Context, req DownloadRequest) error {
	return s.Downloads.EnsureFile(ctx, req)
}
