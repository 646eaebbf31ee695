package models

import (
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

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
