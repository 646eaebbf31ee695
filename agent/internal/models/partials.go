package models

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// CleanPartials removes files under .partial that no download can resume: the partial of an
// operation that is unknown, succeeded or was cancelled (not paused), partials of failed
// operations older than keepFailed, and stale temporary files. Call it after the recovery
// runner has loaded its operations (runner.Start), never before. It returns the bytes freed.
func (d *Downloads) CleanPartials(keepFailed time.Duration) (int64, error) {
	if err := d.tree.stagingPath(d.tree.partDir); err != nil {
		return 0, err // never delete through a .partial that leads outside the store
	}
	des, err := os.ReadDir(d.tree.partDir)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	var freed int64
	for _, de := range des {
		fi, err := de.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		name := de.Name()
		remove := false
		switch id, ok := strings.CutSuffix(name, ".part"); {
		case ok && d.runner != nil:
			op, err := d.runner.Get(id)
			paused, _ := op.Metadata["paused"].(bool)
			switch {
			case err != nil:
				remove = true
			case op.State == recovery.StateSuccess, op.State == recovery.StateCancelled && !paused:
				remove = true
			case op.State == recovery.StateFailed || op.State == recovery.StateExhausted:
				remove = now.Sub(fi.ModTime()) > keepFailed
			}
		case strings.HasPrefix(name, "link-") || strings.HasSuffix(name, ".tmp"):
			remove = now.Sub(fi.ModTime()) > time.Hour
		}
		if remove && os.Remove(filepath.Join(d.tree.partDir, name)) == nil {
			freed += fi.Size()
		}
	}
	return freed, nil
}
