package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/sdk/extension"
)

// Manager finds models by file name in ComfyUI-Manager's model-list.json. The list is cached
// under the data dir and refreshed after MaxAge; when the network is down the cached copy (even
// a stale one) answers, so lookups work offline.
type Manager struct {
	URL       string
	CacheFile string
	MaxAge    time.Duration
	// SeedFile, when set, answers offline before any cache exists (manager.seed_dir).
	SeedFile string
	Client   *http.Client
	Now      func() time.Time

	mu      sync.Mutex
	list    []managerModel
	fetched time.Time
}

var _ Source = (*Manager)(nil)

type managerModel struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Base     string `json:"base"`
	SavePath string `json:"save_path"`
	Filename string `json:"filename"`
	URL      string `json:"url"`
	Size     string `json:"size"`
}

// ID returns "comfyui-manager".
func (m *Manager) ID() string { return "comfyui-manager" }

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// models returns the list: memory, then a fresh-enough cache file, then the network, then
// any cache file.
func (m *Manager) models(ctx context.Context) ([]managerModel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.list != nil && m.now().Sub(m.fetched) < m.MaxAge {
		return m.list, nil
	}
	if fi, err := os.Stat(m.CacheFile); err == nil && m.now().Sub(fi.ModTime()) < m.MaxAge {
		if l, err := readManagerList(m.CacheFile); err == nil {
			m.list, m.fetched = l, fi.ModTime()
			return l, nil
		}
	}
	l, ferr := m.fetch(ctx)
	if ferr == nil {
		m.list, m.fetched = l, m.now()
		return l, nil
	}
	for _, p := range []string{m.CacheFile, m.SeedFile} {
		if p == "" {
			continue
		}
		if l, err := readManagerList(p); err == nil {
			m.list, m.fetched = l, m.now() // stale but usable; retry the network after MaxAge
			return l, nil
		}
	}
	return nil, ferr
}

func (m *Manager) fetch(ctx context.Context) ([]managerModel, error) {
	if m.URL == "" {
		return nil, fmt.Errorf("manager.model_list_url is empty")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
	if err != nil {
		return nil, err
	}
	c := m.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch model list: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, httpStatusError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch model list: %w", err)
	}
	l, err := parseManagerList(data)
	if err != nil {
		return nil, err
	}
	if m.CacheFile != "" {
		os.MkdirAll(filepath.Dir(m.CacheFile), 0o755)
		tmp := m.CacheFile + ".tmp"
		if os.WriteFile(tmp, data, 0o644) == nil {
			os.Rename(tmp, m.CacheFile)
		}
	}
	return l, nil
}

func readManagerList(p string) ([]managerModel, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return parseManagerList(data)
}

func parseManagerList(data []byte) ([]managerModel, error) {
	var doc struct {
		Models []managerModel `json:"models"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse model-list.json: %w", err)
	}
	if doc.Models == nil {
		doc.Models = []managerModel{}
	}
	return doc.Models, nil
}

// filename applies Manager's "<huggingface>" convention (basename of the URL).
func (mm managerModel) filename() string {
	if mm.Filename == "" || strings.HasPrefix(mm.Filename, "<") {
		if u, err := url.Parse(mm.URL); err == nil {
			return FilenameFromURL(u)
		}
	}
	return mm.Filename
}

// folder maps save_path and type to a folder key (glob/manager_server.py model_dir_name_map).
func (mm managerModel) folder() string {
	if mm.SavePath != "" && mm.SavePath != "default" {
		return strings.SplitN(mm.SavePath, "/", 2)[0]
	}
	switch strings.ToLower(mm.Type) {
	case "checkpoint", "checkpoints", "unclip":
		return "checkpoints"
	case "text_encoders", "clip":
		return "text_encoders"
	case "vae":
		return "vae"
	case "lora":
		return "loras"
	case "t2i-adapter", "t2i-style", "controlnet":
		return "controlnet"
	case "clip_vision":
		return "clip_vision"
	case "gligen":
		return "gligen"
	case "upscale":
		return "upscale_models"
	case "embedding", "embeddings":
		return "embeddings"
	case "unet", "diffusion_model":
		return "diffusion_models"
	}
	return "etc"
}

// Resolve handles "manager:<file name>".
func (m *Manager) Resolve(ctx context.Context, ref string) (Resolved, bool, error) {
	name, ok := strings.CutPrefix(ref, "manager:")
	if !ok {
		return Resolved{}, false, nil
	}
	l, err := m.models(ctx)
	if err != nil {
		return Resolved{}, true, err
	}
	for _, mm := range l {
		if strings.EqualFold(mm.filename(), name) {
			return Resolved{URL: mm.URL, Filename: mm.filename(), Folder: mm.folder(), Reference: ref}, true, nil
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
	l, err := m.models(ctx)
	if err != nil {
		return nil, err
	}
	var out []extension.ModelCandidate
	for _, mm := range l {
		if !strings.EqualFold(mm.filename(), name) {
			continue
		}
		conf := 0.6
		if q.Folder != "" && canonicalFolder(q.Folder) == canonicalFolder(mm.folder()) {
			conf = 0.8
		}
		// Keep the workflow's subfolder: ComfyUI names the file "FLUX1/x.safetensors".
		out = append(out, extension.ModelCandidate{Source: m.ID(), URL: mm.URL, Filename: full, Folder: mm.folder(),
			Reference: "manager:" + mm.filename(), Confidence: conf})
	}
	return out, nil
}

func canonicalFolder(f string) string {
	switch f {
	case "clip":
		return "text_encoders"
	case "unet":
		return "diffusion_models"
	}
	return f
}
