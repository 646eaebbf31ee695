package gpu

import (
	"encoding/json"
	"strings"
	"time"
)

// PeakStore persists measured peaks so an agent restart does not forget that a project needs
// more VRAM than its workflow estimate says. *store.DB satisfies it.
type PeakStore interface {
	Put(bucket, key string, v any) error
	Delete(bucket, key string) error
	Scan(bucket, prefix string, fn func(key string, raw []byte) error) error
}

// Where peaks live in the store: bucket "metrics", key "gpu_peak/<project id>".
const (
	peakBucket = "metrics"
	peakPrefix = "gpu_peak/"
)

type peakRecord struct {
	PeakMB int64     `json:"peak_mb"`
	At     time.Time `json:"at"`
}

// loadPeaks reads the stored peaks. A store error only loses the correction, so it is logged.
func (m *Manager) loadPeaks() {
	if m.store == nil {
		return
	}
	err := m.store.Scan(peakBucket, peakPrefix, func(key string, raw []byte) error {
		var r peakRecord
		if json.Unmarshal(raw, &r) == nil && r.PeakMB > 0 {
			m.peaks[strings.TrimPrefix(key, peakPrefix)] = r.PeakMB
		}
		return nil
	})
	if err != nil {
		m.log.Warn("loading measured VRAM peaks failed; estimates start from the workflows", "err", err)
	}
}

// savePeaks writes changed peaks. Called without m.mu held: store writes are I/O.
func (m *Manager) savePeaks(changed map[string]int64) {
	if m.store == nil {
		return
	}
	for p, mb := range changed {
		if err := m.store.Put(peakBucket, peakPrefix+p, peakRecord{PeakMB: mb, At: m.clock.Now().UTC()}); err != nil {
			m.log.Warn("saving a measured VRAM peak failed", "project", p, "err", err)
		}
	}
}

// Forget drops everything known about a deleted project, its measured peak included.
func (m *Manager) Forget(projectID string) {
	m.Release(projectID)
	m.mu.Lock()
	delete(m.peaks, projectID)
	m.mu.Unlock()
	if m.store != nil {
		if err := m.store.Delete(peakBucket, peakPrefix+projectID); err != nil {
			m.log.Warn("deleting a measured VRAM peak failed", "project", projectID, "err", err)
		}
	}
}
