package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/comfylauncher/launcher/sdk/extension"
)

// CivitAI resolves model-version ids (civitai:<id>), AIR URNs
// (urn:air:<ecosystem>:<type>:civitai:<model>@<version>) and civitai.com URLs through the
// public REST API, and finds models by sha256.
type CivitAI struct {
	Endpoint string // https://civitai.com
	Token    string // API key; never logged or returned
	Client   *http.Client
}

var _ Source = (*CivitAI)(nil)

// ID returns "civitai".
func (c *CivitAI) ID() string { return "civitai" }

func (c *CivitAI) endpoint() string {
	if c.Endpoint == "" {
		return "https://civitai.com"
	}
	return strings.TrimRight(c.Endpoint, "/")
}

var airRe = regexp.MustCompile(`^urn:air:[^:]+:[^:]+:civitai:(\d+)(?:@(\d+))?`)

// refIDs extracts (model id, version id) from a reference; either may be 0.
func (c *CivitAI) refIDs(ref string) (model, version int64, ok bool) {
	if s, found := strings.CutPrefix(ref, "civitai:"); found {
		v, err := strconv.ParseInt(s, 10, 64)
		return 0, v, err == nil && v > 0
	}
	if m := airRe.FindStringSubmatch(ref); m != nil {
		model, _ = strconv.ParseInt(m[1], 10, 64)
		version, _ = strconv.ParseInt(m[2], 10, 64)
		return model, version, true
	}
	u, err := url.Parse(ref)
	if err != nil {
		return 0, 0, false
	}
	ep, _ := url.Parse(c.endpoint())
	if ep == nil || !strings.EqualFold(u.Host, ep.Host) {
		return 0, 0, false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(parts) >= 4 && parts[0] == "api" && parts[1] == "download" && parts[2] == "models":
		version, _ = strconv.ParseInt(parts[3], 10, 64)
	case len(parts) >= 2 && parts[0] == "models":
		model, _ = strconv.ParseInt(parts[1], 10, 64)
		version, _ = strconv.ParseInt(u.Query().Get("modelVersionId"), 10, 64)
	default:
		return 0, 0, false
	}
	return model, version, model > 0 || version > 0
}

// civitVersion is the part of /api/v1/model-versions/{id} we use.
type civitVersion struct {
	ID      int64 `json:"id"`
	ModelID int64 `json:"modelId"`
	Model   struct {
		Type string `json:"type"`
	} `json:"model"`
	Files []struct {
		Name        string            `json:"name"`
		SizeKB      float64           `json:"sizeKB"`
		Hashes      map[string]string `json:"hashes"`
		DownloadURL string            `json:"downloadUrl"`
		Primary     bool              `json:"primary"`
	} `json:"files"`
	DownloadURL string `json:"downloadUrl"`
}

// Resolve handles civitai references.
func (c *CivitAI) Resolve(ctx context.Context, ref string) (Resolved, bool, error) {
	model, version, ok := c.refIDs(ref)
	if !ok {
		return Resolved{}, false, nil
	}
	if version == 0 {
		var m struct {
			ModelVersions []struct {
				ID int64 `json:"id"`
			} `json:"modelVersions"`
		}
		if err := c.getJSON(ctx, fmt.Sprintf("/api/v1/models/%d", model), &m); err != nil {
			return Resolved{}, true, err
		}
		if len(m.ModelVersions) == 0 {
			return Resolved{}, true, fmt.Errorf("model %d has no versions", model)
		}
		version = m.ModelVersions[0].ID
	}
	var v civitVersion
	if err := c.getJSON(ctx, fmt.Sprintf("/api/v1/model-versions/%d", version), &v); err != nil {
		return Resolved{}, true, err
	}
	r, err := v.resolved()
	return r, true, err
}

func (v civitVersion) resolved() (Resolved, error) {
	if len(v.Files) == 0 {
		return Resolved{}, fmt.Errorf("model version %d has no files", v.ID)
	}
	f := v.Files[0]
	for _, x := range v.Files {
		if x.Primary {
			f = x
			break
		}
	}
	dl := f.DownloadURL
	if dl == "" {
		dl = v.DownloadURL
	}
	return Resolved{
		URL: dl, Filename: f.Name, Folder: civitFolder(v.Model.Type),
		SHA256:    strings.ToLower(f.Hashes["SHA256"]),
		Reference: fmt.Sprintf("civitai:%d", v.ID),
	}, nil
}

// civitFolder maps CivitAI model types to ComfyUI folder keys.
func civitFolder(t string) string {
	switch strings.ToLower(t) {
	case "checkpoint":
		return "checkpoints"
	case "lora", "locon", "dora", "lycoris":
		return "loras"
	case "textualinversion":
		return "embeddings"
	case "vae":
		return "vae"
	case "controlnet":
		return "controlnet"
	case "upscaler":
		return "upscale_models"
	case "hypernetwork":
		return "hypernetworks"
	case "motionmodule":
		return "animatediff_models"
	}
	return ""
}

func (c *CivitAI) getJSON(ctx context.Context, p string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint()+p, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	cl := c.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("civitai API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpStatusError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(v); err != nil {
		return fmt.Errorf("civitai API: decode %s: %w", p, err)
	}
	return nil
}

// Suggest looks the hash up (an exact match) and resolves civitai URLs a workflow carries.
func (c *CivitAI) Suggest(ctx context.Context, q extension.ModelQuery) ([]extension.ModelCandidate, error) {
	var out []extension.ModelCandidate
	if q.SHA256 != "" {
		var v civitVersion
		if err := c.getJSON(ctx, "/api/v1/model-versions/by-hash/"+url.PathEscape(q.SHA256), &v); err == nil {
			if r, err := v.resolved(); err == nil {
				folder := q.Folder
				if folder == "" {
					folder = r.Folder
				}
				out = append(out, extension.ModelCandidate{Source: c.ID(), URL: r.URL, Filename: r.Filename, Folder: folder,
					SHA256: r.SHA256, Reference: r.Reference, Confidence: 1})
			}
		}
	}
	if q.URL != "" {
		if r, ok, err := c.Resolve(ctx, q.URL); ok && err == nil {
			out = append(out, extension.ModelCandidate{Source: c.ID(), URL: r.URL, Filename: r.Filename, Folder: firstNonEmpty(q.Folder, r.Folder),
				SHA256: r.SHA256, Reference: r.Reference, Confidence: 0.95})
		}
	}
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
