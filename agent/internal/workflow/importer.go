package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/comfy"
	registry "github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/sdk/extension"
)

// ImportRequest is the body of the original launcher's POST /api/import_project (less name and
// port, which the projects package handles).
type ImportRequest struct {
	ImportJSON              json.RawMessage `json:"import_json"`
	ResolvedMissingModels   []ResolvedModel `json:"resolved_missing_models"`
	SkippingModelValidation bool            `json:"skipping_model_validation"`
}

// ResolvedModel is the user's choice for a missing model, as the original web UI sends it.
type ResolvedModel struct {
	Filename         string         `json:"filename"`
	NodeType         string         `json:"node_type"`
	DestRelativePath string         `json:"dest_relative_path"`
	Source           ResolvedSource `json:"source"`
}

// ResolvedSource says where the chosen file comes from.
type ResolvedSource struct {
	Type   string `json:"type"`
	FileID any    `json:"file_id"`
	URL    string `json:"url"`
}

// MissingModel is one entry of the MISSING_MODELS answer (the original UI's shape, plus folder
// and node_id).
type MissingModel struct {
	Filename         string       `json:"filename"`
	NodeType         string       `json:"node_type"`
	NodeID           string       `json:"node_id"`
	Folder           string       `json:"folder"`
	DestRelativePath string       `json:"dest_relative_path"`
	Suggestions      []Suggestion `json:"suggestions"`
	// Downloadable: the workflow, launcher file or Manager model list gives a download URL.
	Downloadable bool `json:"downloadable"`
	// SourceErrors are the model sources that failed while looking for this model: their
	// suggestions are missing, and this says which source failed and why.
	SourceErrors []registry.Failure `json:"source_errors,omitempty"`
}

// Suggestion is a download candidate in the original UI's shape. hf_file_id/civitai_file_id
// carry the download URL: the UI echoes the selected one back as source.file_id.
type Suggestion struct {
	Filename       string  `json:"filename"`
	Source         string  `json:"source"`
	Filepath       string  `json:"filepath"`
	HFFileID       string  `json:"hf_file_id,omitempty"`
	CivitaiFileID  string  `json:"civitai_file_id,omitempty"`
	URL            string  `json:"url"`
	NodeType       string  `json:"node_type"`
	SHA256Checksum string  `json:"sha256_checksum"`
	Size           int64   `json:"size,omitempty"`
	Confidence     float64 `json:"confidence,omitempty"`
}

// Validation is the result of checking a workflow against the model store.
type Validation struct {
	Analysis *Analysis
	Missing  []MissingModel
	// Launcher is set when nothing is missing.
	Launcher *LauncherJSON
}

// Validate analyses raw, checks every required model against the store and, for the missing
// ones, asks the model sources for suggestions. With nothing missing it builds the launcher JSON.
func (s *Service) Validate(ctx context.Context, raw []byte) (*Validation, error) {
	doc, err := Decode(raw, s.lim)
	if err != nil {
		return nil, err
	}
	return s.ValidateDocument(ctx, doc)
}

// ValidateDocument is Validate for a decoded document.
func (s *Service) ValidateDocument(ctx context.Context, doc *Document) (*Validation, error) {
	a, err := s.AnalyzeDocument(ctx, doc)
	if err != nil {
		return nil, err
	}
	v := &Validation{Analysis: a, Missing: s.missing(ctx, a)}
	if len(v.Missing) == 0 {
		lj, err := BuildLauncherJSON(a.Doc, a.Metadata, nil)
		if err != nil {
			return nil, fmt.Errorf("build launcher json: %w", err)
		}
		v.Launcher = lj
	}
	return v, nil
}

// missing lists required models that are not in the store, with suggestions. Files the workflow
// itself says how to download (URL embedded) still count as missing locally but come with that
// URL as their first suggestion.
func (s *Service) missing(ctx context.Context, a *Analysis) []MissingModel {
	out := []MissingModel{}
	for _, m := range a.Metadata.RequiredModels {
		if m.AutoDownload || m.Directory {
			continue
		}
		if _, ok := a.Present[m.Key()]; ok {
			continue
		}
		mm := MissingModel{Filename: m.Filename, NodeType: m.NodeType, NodeID: m.NodeID, Folder: m.Folder,
			DestRelativePath: DestPath(m.Folder, m.Filename), Suggestions: []Suggestion{}, Downloadable: m.URL != ""}
		if m.URL != "" {
			mm.Suggestions = append(mm.Suggestions, suggestionFrom(extension.ModelCandidate{
				Source: m.URLSource, URL: m.URL, Filename: path.Base(m.Filename), SHA256: m.SHA256, Size: m.Size, Confidence: 1,
			}, m))
		}
		if s.catalog != nil {
			q := extension.ModelQuery{Name: m.Filename, Folder: m.Folder, URL: m.URL, SHA256: m.SHA256, NodeType: m.NodeType}
			cands, failures := s.catalog.Suggest(ctx, q)
			mm.SourceErrors = failures
			for _, c := range cands {
				if c.URL == "" || (m.URL != "" && c.URL == m.URL) {
					continue
				}
				if mm.Folder == "" && c.Folder != "" {
					// The workflow did not say where the file goes; the source knows.
					mm.Folder = comfy.CanonicalFolder(c.Folder)
					mm.DestRelativePath = DestPath(mm.Folder, m.Filename)
				}
				mm.Suggestions = append(mm.Suggestions, suggestionFrom(c, m))
			}
		}
		out = append(out, mm)
	}
	return out
}

func suggestionFrom(c extension.ModelCandidate, m ModelRef) Suggestion {
	src := c.Source
	switch strings.ToLower(src) {
	case "huggingface", "hf":
		src = "hf"
	case "civitai":
		src = "civitai"
	}
	fn := c.Filename
	if fn == "" {
		fn = path.Base(m.Filename)
	}
	s := Suggestion{Filename: fn, Source: src, Filepath: c.Reference, URL: c.URL, NodeType: m.NodeType,
		SHA256Checksum: c.SHA256, Size: c.Size, Confidence: c.Confidence}
	if s.Filepath == "" {
		s.Filepath = c.URL
	}
	if src == "civitai" {
		s.CivitaiFileID = c.URL
	} else {
		s.HFFileID = c.URL
	}
	return s
}

// PrepareImport implements the original launcher's import: a launcher JSON (format
// "comfyui_launcher") is returned as it is; a workflow in any format is analysed and turned into
// one. Missing models make it fail with an *apierr.Error whose message is "MISSING_MODELS" and
// whose "missing_models" field lists them with suggestions, unless the request resolves them or
// skips model validation.
func (s *Service) PrepareImport(ctx context.Context, req ImportRequest) (*LauncherJSON, error) {
	raw := []byte(req.ImportJSON)
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "null" {
		return nil, apierr.New(apierr.Invalid, "ValidationError", "import_json is required",
			"Send the workflow or launcher JSON file's content as import_json")
	}
	doc, err := Decode(raw, s.lim)
	if err != nil {
		return nil, prefixErr("import_json", err)
	}
	if doc.Launcher != nil {
		var top struct {
			Format string `json:"format"`
		}
		if json.Unmarshal(raw, &top) == nil && top.Format == LauncherFormat {
			// The original server uses a launcher JSON as it is, without model validation.
			lj := *doc.Launcher
			return &lj, nil
		}
	}
	resolved := map[string][]LauncherFile{}
	for i, r := range req.ResolvedMissingModels {
		f, err := resolvedFile(r)
		if err != nil {
			return nil, prefixErr(fmt.Sprintf("resolved_missing_models[%d]", i), err)
		}
		resolved[f.DestRelativePath] = append(resolved[f.DestRelativePath], f)
	}
	a, err := s.AnalyzeDocument(ctx, doc)
	if err != nil {
		return nil, prefixErr("import_json", err)
	}
	if !req.SkippingModelValidation && len(req.ResolvedMissingModels) == 0 {
		// Models with a known download URL are fetched at install time; the user is asked only
		// about the others.
		var miss []MissingModel
		for _, m := range s.missing(ctx, a) {
			switch f, ok := exactMatch(m); {
			case m.Downloadable:
			case ok:
				resolved[f.DestRelativePath] = append(resolved[f.DestRelativePath], f)
			default:
				miss = append(miss, m)
			}
		}
		if len(miss) > 0 {
			names := make([]string, 0, len(miss))
			for _, m := range miss {
				names = append(names, m.Folder+"/"+m.Filename)
			}
			return nil, apierr.New(apierr.Conflict, "MissingModelsError", "MISSING_MODELS",
				"Choose a suggestion for each missing model and import again with resolved_missing_models",
				"Or import with skipping_model_validation=true and add the models later",
				"Missing: "+strings.Join(names, ", ")).
				With("success", false).With("missing_models", miss)
		}
	}
	lj, err := BuildLauncherJSON(doc, a.Metadata, resolved)
	if err != nil {
		return nil, fmt.Errorf("build launcher json: %w", err)
	}
	// Resolved files that no analysed model matched are still wanted by the user.
	have := map[string]bool{}
	for _, alts := range lj.Files {
		have[alts[0].DestRelativePath] = true
	}
	for _, dest := range sortedKeys(resolved) {
		if !have[dest] {
			lj.Files = append(lj.Files, resolved[dest])
		}
	}
	return lj, nil
}

// exactMatch is the download of a missing model that needs no choice: a source's suggestion
// with full confidence and a sha256 (a private registry's entry for that file), which the
// download is verified against.
func exactMatch(m MissingModel) (LauncherFile, bool) {
	for _, sg := range m.Suggestions {
		if sg.Confidence >= 1 && sg.SHA256Checksum != "" && sg.URL != "" {
			return LauncherFile{DownloadURL: sg.URL, DestRelativePath: m.DestRelativePath, SHA256Checksum: sg.SHA256Checksum, Size: sg.Size}, true
		}
	}
	return LauncherFile{}, false
}

// resolvedFile checks one resolved_missing_models entry (the original server's rules, with any
// https URL accepted) and turns it into a download alternative.
func resolvedFile(r ResolvedModel) (LauncherFile, error) {
	if strings.TrimSpace(r.Filename) == "" || strings.TrimSpace(r.NodeType) == "" || strings.TrimSpace(r.DestRelativePath) == "" {
		return LauncherFile{}, apierr.New(apierr.Invalid, "ValidationError", "empty filename, node type, or destination path",
			"Send filename, node_type and dest_relative_path for every resolved model")
	}
	if !safeRel(r.DestRelativePath) || !strings.HasPrefix(strings.ReplaceAll(r.DestRelativePath, "\\", "/"), "models/") {
		return LauncherFile{}, apierr.Newf(apierr.Invalid, "ValidationError", "dest_relative_path %q must be models/<folder>/<file> inside the ComfyUI directory", r.DestRelativePath).
			Suggest("Use the dest_relative_path from the missing_models answer")
	}
	u := r.Source.URL
	if u == "" {
		switch id := r.Source.FileID.(type) {
		case string:
			u = id
		case float64:
			u = ""
		}
	}
	if u == "" {
		return LauncherFile{}, apierr.New(apierr.Invalid, "ValidationError", "you didn't select one of the suggestions",
			"Select one of the suggestions, or give an https download URL as source.url")
	}
	if !strings.HasPrefix(u, "https://") {
		return LauncherFile{}, apierr.Newf(apierr.Invalid, "ValidationError", "invalid url %q: only https download URLs are accepted", u).
			Suggest("Use a https:// URL (e.g. https://huggingface.co/<org>/<repo>/resolve/main/<file>)")
	}
	dest := strings.ReplaceAll(r.DestRelativePath, "\\", "/")
	return LauncherFile{DownloadURL: u, DestRelativePath: dest}, nil
}
