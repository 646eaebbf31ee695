package project

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/events"
	"github.com/comfylauncher/launcher/agent/internal/gpu"
)

// Store is the subset of *store.DB the manager uses.
type Store interface {
	Put(bucket, key string, v any) error
	// PutAll stores several records in one transaction (log batches).
	PutAll(bucket string, records map[string]any) error
	Get(bucket, key string, v any) error
	Delete(bucket, key string) error
	DeletePrefix(bucket, prefix string) (int, error)
	Scan(bucket, prefix string, fn func(key string, raw []byte) error) error
	ScanPage(bucket, prefix string, offset, limit int, fn func(key string, raw []byte) error) error
	Count(bucket, prefix string) (int, error)
	EnsureBuckets(names ...string) error
}

// Publisher sends events (topics and names in package events); the app passes the hub.
type Publisher = events.Publisher

// Ports leases project ports (*ports.Leaser).
type Ports interface {
	Lease(projectID string, fixed int) (int, error)
	Restore(projectID string, port int) error
	Release(projectID string)
	PortOf(projectID string) (int, bool)
}

// ProcSpec is what the supervisor needs to run one ComfyUI (mirrors process.Spec).
type ProcSpec struct {
	ProjectID       string
	Dir             string
	Python          string
	Port            int
	ExtraModelPaths string
	Args            []string
	Env             map[string]string
	LogDir          string
	ReadyTimeout    time.Duration
	StopGrace       time.Duration
	Restart         string
}

// ProcExit describes an exit of a supervised ComfyUI (mirrors process.ExitInfo).
type ProcExit struct {
	ExitCode      int
	Signal        string
	Cause         string
	Message       string
	Suggestions   []string
	LastLines     []string
	WillRestart   bool
	BreakerOpen   bool
	BreakerReason string
}

// Supervisor runs ComfyUI processes (package process behind an adapter). Start blocks until
// the server answers or fails with an *apierr.Error that carries the cause and suggestions.
type Supervisor interface {
	Start(ctx context.Context, spec ProcSpec) (ProcRecord, error)
	Stop(ctx context.Context, projectID string) error
	Adopt(ctx context.Context, spec ProcSpec, rec ProcRecord) error
	Get(projectID string) (ProcRecord, bool)
}

// Operations is the durable operations runner (RecoveryOps over a recovery.Runner). Nil in
// Deps gives the manager a runner of its own on its store that runs each step once.
type Operations interface {
	Register(def Definition) error
	Submit(ctx context.Context, function string, meta map[string]any) (string, error)
	Cancel(id string) error
	Retry(id string, force bool, maxAttempts int) (string, error)
	// Status returns the operation's state ("pending", "in_progress", "recovering",
	// "success", "failed", "exhausted", "cancelled"); ok is false for an unknown id.
	Status(id string) (state string, ok bool)
}

// Definition is a durable operation: named steps run in order, each idempotent.
type Definition struct {
	Name        string
	Steps       []Step
	MaxAttempts int
	// OnTerminal runs once the operation ends: state is success, failed, exhausted or
	// cancelled; err is the last error.
	OnTerminal func(ctx context.Context, projectID, opID, state string, err error)
}

// Step is one step of a Definition; Run gets the project id from the operation's metadata.
type Step struct {
	Name string
	Run  func(ctx context.Context, projectID string) error
}

// FileRequest asks the model store for one file (mirrors models.DownloadRequest).
type FileRequest struct {
	URL       string
	Folder    string
	Filename  string
	SHA256    string
	ProjectID string
}

// Models is the shared model store.
type Models interface {
	// ExtraModelPathsYAML is the extra_model_paths.yaml that points ComfyUI at the store.
	ExtraModelPathsYAML() []byte
	EnsureFile(ctx context.Context, req FileRequest) error
	// CheckDest refuses (an *apierr.Error) a file of a launcher JSON that would be written
	// outside the store, e.g. through a symlinked folder.
	CheckDest(folder, name string) error
}

// ImportRequest is the body of POST /api/import_project as the workflow package needs it.
type ImportRequest struct {
	Name                    string          `json:"name"`
	ImportJSON              json.RawMessage `json:"import_json"`
	ResolvedMissingModels   json.RawMessage `json:"resolved_missing_models,omitempty"`
	SkippingModelValidation bool            `json:"skipping_model_validation"`
}

// Importer turns a workflow into a launcher JSON (workflow.Service.PrepareImport behind an
// adapter). It returns an *apierr.Error with MISSING_MODELS and missing_models when models are
// missing; EstimateVRAM returns the workflow's VRAM estimate in MB (0 = unknown).
type Importer interface {
	PrepareImport(ctx context.Context, req ImportRequest) (json.RawMessage, error)
	EstimateVRAM(workflowJSON json.RawMessage) int64
}

// GPUs places projects on GPUs (*gpu.Manager). Nil: no GPU handling.
type GPUs interface {
	Place(ctx context.Context, req gpu.PlaceRequest) (gpu.Placement, error)
	Release(projectID string)
	BindProcess(projectID string, pgid int)
	// Restore re-records the placement of a process re-adopted after an agent restart.
	Restore(projectID string, p gpu.Placement, pgid int)
}

// Deps are the manager's collaborators. Store and Supervisor and Ports are required.
type Deps struct {
	Store      Store
	Publisher  Publisher
	Ports      Ports
	Supervisor Supervisor
	Ops        Operations
	Models     Models
	Importer   Importer
	GPUs       GPUs
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Options configure the manager (from launcher.toml).
type Options struct {
	// DataDir holds projects/<id>/ (checkout, venv, logs).
	DataDir string
	// ModelsDir is the shared model store, used for extra_model_paths.yaml when Deps.Models
	// is nil.
	ModelsDir string
	// TemplatesDir holds <template_id>/launcher.json; "empty" needs no template.
	TemplatesDir string
	// Repo and Ref: where ComfyUI is cloned from (a URL or a local path) and which ref.
	Repo string
	Ref  string
	// Python creates each project's venv.
	Python string
	// PipArgs are appended to every pip install (e.g. --index-url for the torch build).
	PipArgs []string
	// LaunchArgs are passed to every ComfyUI before the project's own.
	LaunchArgs   []string
	ReadyTimeout time.Duration
	StopGrace    time.Duration
	// PortMin/PortMax is the port range a fixed project port must lie in.
	PortMin, PortMax int
	// MaxLogEntries caps the stored log entries per project (oldest are dropped).
	MaxLogEntries int
	// InstallAttempts is the install operation's attempt budget.
	InstallAttempts int
	// ReconcileInterval is how often desired state is enforced; negative disables the loop
	// (Reconcile can still be called).
	ReconcileInterval time.Duration
	// Desired are the [[projects]] of launcher.toml.
	Desired []DesiredProject
}

// DesiredProject is one [[projects]] entry.
type DesiredProject struct {
	ID           string
	Name         string
	LauncherJSON string // path to a launcher JSON file
	Template     string
	Port         int
	GPU          gpu.Preference
	Restart      string
	LaunchArgs   []string
	Env          map[string]string
	State        string // "running" or "stopped"
}

func (o *Options) setDefaults() {
	if o.Ref == "" {
		o.Ref = "master"
	}
	if o.Python == "" {
		o.Python = "python3"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 120 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	if o.MaxLogEntries <= 0 {
		o.MaxLogEntries = 20000
	}
	if o.InstallAttempts <= 0 {
		o.InstallAttempts = 3
	}
	if o.ReconcileInterval == 0 {
		o.ReconcileInterval = 30 * time.Second
	}
}
