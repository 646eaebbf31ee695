package models

import (
	"context"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// DownloadOps are the download operations the recovery runner keeps, as the downloads API
// shows them: listed, paused, resumed and cancelled.
type DownloadOps struct {
	runner Runner
}

// Available is nil when downloads can run, else a 503 saying why.
func (o *DownloadOps) Available() error { return needRunner(o.runner) }

// List returns every download operation the runner keeps, as the downloads API shows it
// (newest first); none when no runner is wired. Metrics read it at scrape time.
func (o *DownloadOps) List() ([]DownloadView, error) {
	if o.runner == nil {
		return nil, nil
	}
	return o.list(recovery.Filter{Function: FunctionDownload})
}

// History returns the downloads that have ended: succeeded, failed, exhausted or cancelled.
func (o *DownloadOps) History() ([]DownloadView, error) {
	if err := o.Available(); err != nil {
		return nil, err
	}
	return o.list(recovery.Filter{Function: FunctionDownload, States: []recovery.State{recovery.StateSuccess, recovery.StateFailed, recovery.StateExhausted, recovery.StateCancelled}})
}

func (o *DownloadOps) list(f recovery.Filter) ([]DownloadView, error) {
	ops, err := o.runner.List(f)
	if err != nil {
		return nil, err
	}
	out := make([]DownloadView, 0, len(ops))
	for _, op := range ops {
		out = append(out, viewOf(op))
	}
	return out, nil
}

// Get returns download id: 404 when there is no such operation or it is no download.
func (o *DownloadOps) Get(id string) (DownloadView, error) {
	op, err := o.get(id)
	if err != nil {
		return DownloadView{}, err
	}
	return viewOf(op), nil
}

func (o *DownloadOps) get(id string) (recovery.Operation, error) {
	if err := o.Available(); err != nil {
		return recovery.Operation{}, err
	}
	op, err := o.runner.Get(id)
	if err != nil {
		return op, err
	}
	if op.FunctionName != FunctionDownload {
		return op, apierr.Newf(apierr.NotFound, "DownloadNotFoundError", "%s is not a download", id).
			Suggest("List downloads with GET /api/downloads")
	}
	return op, nil
}

// Pause stops download id, keeping its partial file for Resume, and returns it once it has
// stopped (or ctx ends).
func (o *DownloadOps) Pause(ctx context.Context, id string) (DownloadView, error) {
	return o.control(ctx, id, o.runner.Pause, true)
}

// Resume continues a paused download id and returns it at once.
func (o *DownloadOps) Resume(ctx context.Context, id string) (DownloadView, error) {
	return o.control(ctx, id, o.runner.Resume, false)
}

// Cancel ends download id and returns it once it has ended (or ctx ends).
func (o *DownloadOps) Cancel(ctx context.Context, id string) (DownloadView, error) {
	return o.control(ctx, id, o.runner.Cancel, true)
}

// control applies act to download id and, with settle, waits (bounded by ctx) until the
// operation reaches a terminal state, so the answer shows the new state.
func (o *DownloadOps) control(ctx context.Context, id string, act func(string) error, settle bool) (DownloadView, error) {
	if _, err := o.get(id); err != nil {
		return DownloadView{}, err
	}
	if err := act(id); err != nil {
		return DownloadView{}, err
	}
	op, _ := o.runner.Get(id)
	if settle && !op.State.Terminal() {
		op, _ = o.runner.Wait(ctx, id)
	}
	return viewOf(op), nil
}

// DownloadView is a download operation as the downloads API shows it.
type DownloadView struct {
	ID string `json:"id"`
	// Status, DestPath, Speed, ETA, Attempts, CanPause and CanResume repeat the fields under
	// the names the original launcher's web UI reads.
	Status    string  `json:"status"`
	DestPath  string  `json:"dest_path"`
	Speed     float64 `json:"speed"`
	ETA       float64 `json:"eta"`
	Attempts  int     `json:"attempts"`
	CanPause  bool    `json:"can_pause"`
	CanResume bool    `json:"can_resume"`

	OperationID     string    `json:"operation_id"`
	State           string    `json:"state"`
	Paused          bool      `json:"paused"`
	URL             string    `json:"url,omitempty"`
	Source          string    `json:"source,omitempty"`
	Folder          string    `json:"folder"`
	Filename        string    `json:"filename"`
	Path            string    `json:"path"`
	SHA256          string    `json:"sha256,omitempty"`
	ProjectID       string    `json:"project_id,omitempty"`
	Progress        float64   `json:"progress"`
	BytesDownloaded int64     `json:"bytes_downloaded"`
	TotalBytes      int64     `json:"total_bytes"`
	SpeedBps        float64   `json:"speed_bps"`
	Attempt         int       `json:"attempt"`
	MaxAttempts     int       `json:"max_attempts"`
	Error           string    `json:"error,omitempty"`
	ErrorClass      string    `json:"error_class,omitempty"`
	LinkedFrom      string    `json:"linked_from,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func viewOf(op recovery.Operation) DownloadView {
	str := func(k string) string { v, _ := op.Metadata[k].(string); return v }
	num := func(k string) float64 { v, _ := op.Metadata[k].(float64); return v }
	paused, _ := op.Metadata["paused"].(bool)
	u := str("resolved_url")
	if u == "" {
		u = str("url")
	}
	v := DownloadView{
		ID: op.ID, OperationID: op.ID, State: string(op.State), Paused: paused, URL: redactURL(u), Source: str("source"),
		Folder: str("folder"), Filename: str("filename"), Path: str("path"), SHA256: str("sha256"), ProjectID: str("project_id"),
		Progress: num("progress"), BytesDownloaded: int64(num("bytes_downloaded")), TotalBytes: int64(num("total_bytes")),
		SpeedBps: num("speed_bps"), Attempt: op.Attempt, MaxAttempts: op.MaxAttempts, Error: op.Error, ErrorClass: string(op.ErrorClass),
		LinkedFrom: str("linked_from"), CreatedAt: op.CreatedAt, UpdatedAt: op.UpdatedAt,
	}
	v.Status, v.DestPath, v.Speed, v.Attempts = v.State, v.Path, v.SpeedBps, op.TotalAttempts
	if v.SpeedBps > 0 && v.TotalBytes > v.BytesDownloaded && op.State == recovery.StateInProgress {
		v.ETA = float64(v.TotalBytes-v.BytesDownloaded) / v.SpeedBps
	}
	v.CanPause = op.State.Active()
	v.CanResume = v.Paused
	return v
}
