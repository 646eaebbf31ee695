// Package models is the shared model store: ComfyUI's folder layout under models_dir, an index
// of every file (size, mtime, sha256 computed once in the background, source and validators),
// downloads run as recovery operations, dedupe by hard links, storage usage and update checks,
// and the REST API over all of it. Projects see the store through a generated
// extra_model_paths.yaml.
package models

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/atomicfile"
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

// Service is the model store.
type Service struct {
	opts    Options
	root    string
	partDir string
	layout  *Layout
	ix      *index
	dl      *download.Downloader
	runner  Runner
	pub     Publisher
	reg     *sources.Resolver
	log     *slog.Logger

	// slots bounds concurrent file transfers.
	slots chan struct{}

	mu       sync.Mutex
	projects ProjectModels
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
	partDir := filepath.Join(root, ".partial")
	if err := os.MkdirAll(partDir, 0o755); err != nil {
		return nil, fmt.Errorf("models: create %s: %w", partDir, err)
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
	ix.log = opts.Logger.With("component", "models")
	s := &Service{opts: opts, root: root, partDir: partDir, layout: layout, ix: ix, dl: download.New(dopt),
		runner: runner, pub: pub, reg: reg, log: opts.Logger.With("component", "models"),
		slots: make(chan struct{}, opts.MaxConcurrent)}
	if runner != nil {
		runner.Register(s.definition())
	}
	return s, nil
}

// IndexHealth is the "model_index" entry of GET /api/health: whether the index of the store
// (sources, hashes) is being persisted.
func (s *Service) IndexHealth() (bool, any) { return s.ix.health() }

// SetProjects wires the provider of used_by_projects (nil-safe).
func (s *Service) SetProjects(p ProjectModels) {
	s.mu.Lock()
	s.projects = p
	s.mu.Unlock()
}

func (s *Service) projectModels() map[string][]string {
	s.mu.Lock()
	p := s.projects
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.ModelsByProject()
}

// Start indexes the store and hashes unhashed files in the background until ctx ends.
func (s *Service) Start(ctx context.Context) error {
	if err := s.ix.scan(); err != nil {
		return err
	}
	go s.ix.hashLoop(ctx)
	return nil
}

// Layout returns the folder layout.
func (s *Service) Layout() *Layout { return s.layout }

// Root returns the store's directory.
func (s *Service) Root() string { return s.root }

// Sources returns the model sources and their credentials.
func (s *Service) Sources() *sources.Resolver { return s.reg }

// Rescan re-reads the store (after files were added or removed behind the agent's back).
func (s *Service) Rescan() error { return s.ix.scan() }

// ExtraModelPathsYAML is the extra_model_paths.yaml pointing a project's ComfyUI at the store.
func (s *Service) ExtraModelPathsYAML() []byte { return s.layout.ExtraModelPathsYAML(s.root) }

// WriteExtraModelPaths writes that file atomically to path.
func (s *Service) WriteExtraModelPaths(path string) error {
	if err := atomicfile.Write(path, s.ExtraModelPathsYAML(), 0o644); err != nil {
		return fmt.Errorf("extra_model_paths.yaml: %w", err)
	}
	return nil
}

// Lookup finds a model by folder key (or alias) and name in every directory of the folder.
// Unlike writes it follows symlinks out of the store, as ComfyUI does when it loads the model:
// it only tells whether and how large the file is.
func (s *Service) Lookup(folder, name string) (path string, size int64, ok bool) {
	rel, err := cleanRel(name)
	if err != nil {
		return "", 0, false
	}
	for _, d := range s.layout.Dirs(folder) {
		p := filepath.Join(s.root, filepath.FromSlash(d), filepath.FromSlash(rel))
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, fi.Size(), true
		}
	}
	return "", 0, false
}

// CheckDest tells whether a project file meant for folder/name (a folder key, alias or store
// directory, as a launcher JSON's dest_relative_path gives it) can be provided by the store:
// nil when it is there already or may be written, else a 400 InvalidPathError naming the path
// and why.
func (s *Service) CheckDest(folder, name string) error {
	rel := folder + "/" + name
	if _, ok := s.layout.Canonical(folder); ok {
		rel = s.relPath(folder, name)
	}
	c, err := cleanRel(rel)
	if err != nil {
		return badPath(rel, err.Error())
	}
	if fi, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(c))); err == nil && fi.Mode().IsRegular() {
		return nil // there already (ComfyUI follows symlinks too): nothing is written
	}
	_, _, err = s.storePath(c)
	return err
}

// Suggest asks the model sources where a model can be downloaded from; failures name the
// sources that failed.
func (s *Service) Suggest(ctx context.Context, q sdk.ModelQuery) ([]sdk.ModelCandidate, []extension.Failure) {
	return s.reg.Suggest(ctx, q)
}

// EnsureFile makes sure the requested file is in the store: it returns at once when the file
// is there (with the right hash when one is given), otherwise it downloads it as an operation
// and waits for it.
func (s *Service) EnsureFile(ctx context.Context, req DownloadRequest) error {
	sub, err := s.Submit(ctx, req)
	if err != nil {
		return err
	}
	if sub.OperationID == "" {
		return nil
	}
	op, err := s.runner.Wait(ctx, sub.OperationID)
	if err != nil {
		return err
	}
	if op.State != recovery.StateSuccess {
		return fmt.Errorf("download %s: %s: %s", sub.Path, op.State, op.Error)
	}
	return nil
}
