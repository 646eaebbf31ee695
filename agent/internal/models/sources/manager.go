package sources

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/sdk/extension"
)

// ManagerData is what the comfyui-manager source needs from the agent's Manager data
// (*managerdata.Data): its current index, once the first load has finished.
type ManagerData interface {
	Wait(ctx context.Context) bool
	Index() *managerdata.Index
}

// Manager finds models by file name in ComfyUI-Manager's model-list.json. The list is the
// agent's one Manager data component (fetched, cached and refreshed there), so lookups work
// offline from the cache and never download on their own.
type Manager struct {
	Data ManagerData
}

var _ Source = (*Manager)(nil)

// ID returns "comfyui-manager".
func (m *Manager) ID() string { return "comfyui-manager" }

// loadWait bounds how long a lookup waits for the Manager data's first load.
const loadWait = 10 * time.Second

// index returns the Manager data once the model list is loaded.
func (m *Manager) index(ctx context.Context) (*managerdata.Index, error) {
	if m.Data == nil {
		return nil, fmt.Errorf("comfyui-manager source has no Manager data")
	}
	// The first load of the cache takes a moment at start-up; never wait on it forever.
	wctx, cancel := context.WithTimeout(ctx, loadWait)
	defer cancel()
	if !m.Data.Wait(wctx) {
		return nil, fmt.Errorf("ComfyUI-Manager data is still loading (the agent reads its cache and fetches %s from %s); try again in a moment: %w",
			managerdata.FileModelList, managerdata.ConfigKeys[managerdata.FileModelList], wctx.Err())
	}
	ix := m.Data.Index()
	if !ix.Has(managerdata.FileModelList) {
		return nil, fmt.Errorf("ComfyUI-Manager %s is not cached: the agent fetches it from %s; on a node without internet load a copy with `launcher manager-data import DIR|URL`",
			managerdata.FileModelList, managerdata.ConfigKeys[managerdata.FileModelList])
	}
	return ix, nil
}

// Resolve handles "manager:<file name>".
func (m *Manager) Resolve(ctx context.Context, ref string) (Resolved, bool, error) {
	name, ok := strings.CutPrefix(ref, "manager:")
	if !ok {
		return Resolved{}, false, nil
	}
	ix, err := m.index(ctx)
	if err != nil {
		return Resolved{}, true, err
	}
	for _, mm := range ix.Models(name) {
		if strings.EqualFold(mm.File, name) {
			return Resolved{URL: mm.URL, Filename: mm.File, Folder: mm.Folder, Reference: ref}, true, nil
		}
	}
	return Resolved{}, true, fmt.Errorf("%q is not in ComfyUI-Manager's model list", name)
}

// Suggest matches the query's file name (without subfolders); a matching folder ranks higher.
func (m *Manager) Suggest(ctx context.Context, q extension.ModelQuery) ([]extension.ModelCandidate, error) {
	full := strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(q.Name, "\\", "/")), "/")
	name := path.Base(full)
	if name == "" || name == "." {
		return nil, nil
	}
	ix, err := m.index(ctx)
	if err != nil {
		return nil, err
	}
	var out []extension.ModelCandidate
	for _, mm := range ix.Models(name) {
		if !strings.EqualFold(mm.File, name) {
			continue
		}
		conf := 0.6
		if q.Folder != "" && comfy.CanonicalFolder(q.Folder) == mm.Folder {
			conf = 0.8
		}
		// Keep the workflow's subfolder: ComfyUI names the file "FLUX1/x.safetensors".
		out = append(out, extension.ModelCandidate{Source: m.ID(), URL: mm.URL, Filename: full, Folder: mm.Folder,
			Reference: "manager:" + mm.File, Confidence: conf})
	}
	return out, nil
}
