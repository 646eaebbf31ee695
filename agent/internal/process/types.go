package process

import (
	"net/http"
	"time"
)

// Policy says when an exited ComfyUI is started again.
type Policy string

// Restart policies. An exit caused by Stop is never restarted.
const (
	RestartNever     Policy = "never"
	RestartOnFailure Policy = "on-failure"
	RestartAlways    Policy = "always"
)

// Valid reports whether p is a known policy; "" counts as never.
func (p Policy) Valid() bool {
	switch p {
	case "", RestartNever, RestartOnFailure, RestartAlways:
		return true
	}
	return false
}

// Spec is how to run one project's ComfyUI.
type Spec struct {
	ProjectID string
	// Dir is the ComfyUI checkout and the working directory of the process.
	Dir string
	// Python is the interpreter, normally <venv>/bin/python.
	Python string
	Port   int
	// ExtraModelPaths is passed as --extra-model-paths-config ("" omits it).
	ExtraModelPaths string
	// Args are extra launch arguments (global comfyui.launch_args, then the project's own).
	// --listen and --port are refused: the agent owns them.
	Args []string
	// Env is added to the agent's environment, e.g. CUDA_VISIBLE_DEVICES.
	Env map[string]string
	// LogDir gets one run-<timestamp>.log per run.
	LogDir string
	// ReadyTimeout bounds start-to-ready (default 120s); StopGrace is the time between
	// SIGTERM and SIGKILL (default 10s).
	ReadyTimeout, StopGrace time.Duration
	Restart                 Policy
}

// Record identifies a running process well enough to re-adopt it after an agent restart.
// The caller persists it (OnReady delivers a new one after every restart).
type Record struct {
	ProjectID string    `json:"project_id"`
	PID       int       `json:"pid"`
	PGID      int       `json:"pgid"`
	StartTime uint64    `json:"start_time"` // /proc/<pid>/stat field 22, in clock ticks since boot
	Port      int       `json:"port"`
	LogPath   string    `json:"log_path"`
	LogOffset int64     `json:"log_offset"` // bytes of LogPath already tailed
	StartedAt time.Time `json:"started_at"`
}

// LogLine is one line of ComfyUI output.
type LogLine struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // info, warning or error, detected from the text
	Message string    `json:"message"`
}

// Exit causes detected from the last log lines.
const (
	CausePortInUse        = "port_in_use"
	CauseCUDAOOM          = "cuda_oom"
	CauseCustomNodeImport = "custom_node_import"
	CauseMissingModule    = "missing_module"
	CauseUnknown          = "unknown"
)

// ExitInfo describes an exit of a supervised process.
type ExitInfo struct {
	ExitCode    int      `json:"exit_code"` // -1 when unknown (killed by a signal, or adopted)
	Signal      string   `json:"signal,omitempty"`
	Cause       string   `json:"cause"`
	Message     string   `json:"message"`
	Suggestions []string `json:"suggestions"`
	LastLines   []string `json:"last_lines"`
	// WillRestart is false on the final exit: the caller then releases the port.
	WillRestart   bool   `json:"will_restart"`
	BreakerOpen   bool   `json:"breaker_open"`
	BreakerReason string `json:"breaker_reason,omitempty"`
}

// Hooks are optional callbacks, called from supervisor goroutines. They must not block long;
// they may call Get, but Stop only from another goroutine (Stop waits for the goroutine that
// runs the hook).
type Hooks struct {
	OnLog func(projectID string, line LogLine)
	// OnSpawn is called when a process has been spawned, before its readiness is awaited,
	// with the record to persist. An error stops the process and fails the start: a process
	// that is not recorded could outlive the agent untracked.
	OnSpawn func(projectID string, rec Record) error
	// OnReady is called whenever a (re)started process answers, with the record to persist.
	OnReady func(projectID string, rec Record)
	// OnExit is called on every exit that Stop did not ask for, including a start that failed
	// during a restart; WillRestart says whether another attempt follows.
	OnExit func(projectID string, info ExitInfo)
	// OnRestart is called before waiting delay and starting attempt (1 = first restart).
	OnRestart func(projectID string, attempt int, delay time.Duration)
}

// Clock is the time source of backoff, breaker windows, timeouts and polling.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options tune the supervisor; zero values take the defaults in brackets.
type Options struct {
	Clock Clock
	// BackoffBase [1s] doubles per consecutive crash up to BackoffMax [1m].
	BackoffBase, BackoffMax time.Duration
	// BreakerThreshold [5] crashes within BreakerWindow [5m] stop the restarts.
	BreakerThreshold int
	BreakerWindow    time.Duration
	// PollInterval [50ms] paces log tailing and readiness probes; adopted processes are
	// checked for liveness every 4 intervals.
	PollInterval time.Duration
	// HTTPClient probes /system_stats [a client with a 2s timeout].
	HTTPClient *http.Client
	// LastLines [40] log lines are kept for exit classification.
	LastLines int
}

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = time.Minute
	}
	if o.BreakerThreshold <= 0 {
		o.BreakerThreshold = 5
	}
	if o.BreakerWindow <= 0 {
		o.BreakerWindow = 5 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.HTTPClient == nil {
		// No proxy from the environment and no keep-alive: probes go to loopback ports whose
		// process may be replaced between two probes.
		o.HTTPClient = &http.Client{Timeout: 2 * time.Second,
			Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	if o.LastLines <= 0 {
		o.LastLines = 40
	}
}

// defaults for Spec durations.
const (
	defaultReadyTimeout = 120 * time.Second
	defaultStopGrace    = 10 * time.Second
)
