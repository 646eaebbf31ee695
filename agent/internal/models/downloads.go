package models

import (
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// Downloads returns every download operation the runner keeps, as the downloads API shows
// it (newest first). Metrics read it at scrape time.
func (s *Service) Downloads() ([]DownloadView, error) {
	if s.runner == nil {
		return nil, nil
	}
	ops, err := s.runner.List(recovery.Filter{Function: FunctionDownload})
	if err != nil {
		return nil, err
	}
	out := make([]DownloadView, 0, len(ops))
	for _, op := range ops {
		out = append(out, viewOf(op))
	}
	return out, nil
}

func (s *Service) getDownload(id string) (recovery.Operation, error) {
	op, err := s.runner.Get(id)
	if err != nil {
		return op, err
	}
	if op.FunctionName != FunctionDownload {
		return op, apierr.Newf(apierr.NotFound, "DownloadNotFoundError", "%s is not a download", id).
			Suggest("List downloads with GET /api/downloads")
	}
	return op, nil
}
