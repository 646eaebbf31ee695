package project

import (
	"encoding/json"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/gpu"
)

// State is a project's lifecycle state. The install states and ready/running keep the
// original web UI's names; failed, starting and stopping are new.
type State string

// Project states.
const (
	StateDownloadComfyUI    State = "download_comfyui"
	StateInstallComfyUI     State = "install_comfyui"
	StateInstallCustomNodes State = "install_custom_nodes"
	StateDownloadFiles      State = "download_files"
	StateReady              State = "ready"
	StateStarting           State = "starting"
	StateRunning            State = "running"
	StateStopping           State = "stopping"
	StateFailed             State = "failed"
)

// Installing reports whether s is one of the install pipeline's states.
func (s State) Installing() bool {
	switch s {
	case StateDownloadComfyUI, StateInstallComfyUI, StateInstallCustomNodes, StateDownloadFiles:
		return true
	}
	return false
}

// statusMessages are the original UI's texts for each state.
var statusMessages = map[State]string{
	StateDownloadComfyUI:    "Downloading ComfyUI...",
	StateInstallComfyUI:     "Installing ComfyUI...",
	StateInstallCustomNodes: "Installing custom nodes...",
	StateDownloadFiles:      "Downloading models & other files...",
	StateReady:              "Ready",
	StateStarting:           "Starting...",
	StateRunning:            "Running...",
	StateStopping:           "Stopping...",
	StateFailed:             "Failed",
}

// Restart policies for a project's ComfyUI process (the supervisor's Policy values).
const (
	RestartNever     = "never"
	RestartOnFailure = "on-failure"
	RestartAlways    = "always"
)

// Failure says why a project is in the failed state: which step, what went wrong and what
// to do. Retryable failures are retried with POST /api/projects/{id}/retry.
type Failure struct {
	Step        string    `json:"step"`
	Error       string    `json:"error"`
	Type        string    `json:"type,omitempty"`
	Suggestions []string  `json:"suggestions"`
	Retryable   bool      `json:"retryable"`
	OpID        string    `json:"op_id,omitempty"`
	Time        time.Time `json:"time"`
}

// ProcRecord identifies a running ComfyUI process well enough to re-adopt it after an agent
// restart (mirrors process.Record; persisted in the project record).
type ProcRecord struct {
	PID       int       `json:"pid"`
	PGID      int       `json:"pgid"`
	StartTime uint64    `json:"start_time"`
	Port      int       `json:"port"`
	LogPath   string    `json:"log_path,omitempty"`
	LogOffset int64     `json:"log_offset,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// Project is the persisted record of one project (bucket "projects", key = id).
type Project struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// State and StatusMessage are what the UI shows.
	State         State  `json:"state"`
	StatusMessage string `json:"status_message"`
	// FixedPort is the port the user asked for; 0 leases any free port at each start.
	FixedPort int `json:"fixed_port,omitempty"`
	// Template is the template id the project was created from ("empty" for plain ComfyUI).
	Template string `json:"template,omitempty"`
	// LauncherJSON is the project's launcher JSON (workflow, snapshot, files); nil for empty.
	LauncherJSON json.RawMessage   `json:"launcher_json,omitempty"`
	GPU          gpu.Preference    `json:"gpu"`
	Restart      string            `json:"restart"`
	LaunchArgs   []string          `json:"launch_args,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	// Desired is "running" or "stopped" for projects declared in launcher.toml, else empty.
	Desired string `json:"desired,omitempty"`
	// Installed is set when the install pipeline finished once; start needs it.
	Installed bool `json:"installed"`
	// InstallOp is the id of the current or last install operation.
	InstallOp string `json:"install_op,omitempty"`
	// Failure is set while State is failed.
	Failure *Failure `json:"failure,omitempty"`
	// Process is set while a ComfyUI process runs (or may run: checked at agent start).
	Process *ProcRecord `json:"process,omitempty"`
	// Placement is where the running process was placed (GPU, env), kept for re-adoption.
	Placement *gpu.Placement `json:"placement,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Progress is the payload of progress_update events (spec/api.md).
type Progress struct {
	Stage        string  `json:"stage"`
	Progress     float64 `json:"progress"`
	CurrentFile  string  `json:"current_file,omitempty"`
	FileProgress float64 `json:"file_progress,omitempty"`
	Current      int     `json:"current,omitempty"`
	Total        int     `json:"total,omitempty"`
	Error        string  `json:"error,omitempty"`
}

// LogEntry is one log line of a project (spec/api.md GET /api/logs).
type LogEntry struct {
	Timestamp string         `json:"timestamp"`
	Level     string         `json:"level"`
	Message   string         `json:"message"`
	Data      map[string]any `json:"data,omitempty"`
}
