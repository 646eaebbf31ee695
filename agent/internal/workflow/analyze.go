package workflow

import (
	"context"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
	registry "github.com/comfylauncher/launcher/agent/internal/extension"
	"github.com/comfylauncher/launcher/agent/internal/managerdata"
	"github.com/comfylauncher/launcher/sdk/extension"
)

// ModelCatalog is what the workflow service needs from the model store and model sources.
type ModelCatalog interface {
	// Lookup finds a model in the local store by folder key and relative name.
	Lookup(folder, name string) (path string, size int64, ok bool)
	// Suggest asks the configured model sources for download candidates; failures are the
	// sources that failed (their answers are missing from the candidates).
	Suggest(ctx context.Context, q extension.ModelQuery) ([]extension.ModelCandidate, []registry.Failure)
}

// Options configures a Service.
type Options struct {
	Limits Limits
	// Catalog may be nil: then no model is local and suggestions come only from URLs the
	// workflow embeds and the Manager model list.
	Catalog ModelCatalog
	// Manager may be nil: then only core node types are recognised.
	Manager *managerdata.Data
	// LoadWait bounds how long an analysis waits for the Manager data's first load before it
	// answers without it, saying so (default 10 s).
	LoadWait time.Duration
	// Extensions is the registry the parser chain comes from; nil means a private registry
	// holding only the core parsers.
	Extensions *registry.Registry
	Logger     *slog.Logger
	// ReadHeader reads a local safetensors header (default ReadSafetensorsHeader).
	ReadHeader func(path string) (TensorStats, error)
}

// Service parses and analyses workflows (package workflowhttp serves them).
type Service struct {
	lim     Limits
	catalog ModelCatalog
	manager *managerdata.Data
	wait    time.Duration
	core    map[string]bool
	reg     *registry.Registry
	log     *slog.Logger
	header  func(string) (TensorStats, error)

	ixMu sync.Mutex
	ix   *ManagerIndex // for the Manager data version it wraps
}

// NewService returns a Service.
func NewService(opts Options) *Service {
	s := &Service{lim: opts.Limits.withDefaults(), catalog: opts.Catalog, manager: opts.Manager, reg: opts.Extensions,
		log: opts.Logger, header: opts.ReadHeader, wait: opts.LoadWait, core: parseLines(coreNodesTXT)}
	if s.wait <= 0 {
		s.wait = 10 * time.Second
	}
	if s.reg == nil {
		s.reg = registry.New(registry.Options{Logger: opts.Logger})
		if err := RegisterParsers(context.Background(), s.reg); err != nil {
			panic(err) // a fresh registry has no conflicting ids
		}
	}
	if s.manager == nil {
		// Memory only, nothing to read: the load ends at once with the core types alone.
		s.manager = managerdata.New(managerdata.Options{})
		_ = s.manager.Load(context.Background())
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.header == nil {
		s.header = ReadSafetensorsHeader
	}
	return s
}

// Extensions returns the registry the parser chain comes from.
func (s *Service) Extensions() *registry.Registry { return s.reg }

// Manager returns the Manager data.
func (s *Service) Manager() *managerdata.Data { return s.manager }

// Limits returns the limits workflows are decoded with, defaults filled in.
func (s *Service) Limits() Limits { return s.lim }

// managerIndex returns the index of the current Manager data version, waiting (bounded by
// LoadWait and ctx) for the first load; built once per version.
func (s *Service) managerIndex(ctx context.Context) *ManagerIndex {
	if !s.manager.Loaded() {
		wctx, cancel := context.WithTimeout(ctx, s.wait)
		s.manager.Wait(wctx)
		cancel()
	}
	data := s.manager.Index()
	s.ixMu.Lock()
	defer s.ixMu.Unlock()
	if s.ix == nil || s.ix.data != data {
		s.ix = newManagerIndex(data, s.core)
	}
	return s.ix
}

// NodeInfo is one node in Metadata.
type NodeInfo struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Title string `json:"title"`
	// Muted (mode 2) and Bypassed (mode 4) include nodes inside a muted or bypassed instance.
	Muted    bool   `json:"muted,omitempty"`
	Bypassed bool   `json:"bypassed,omitempty"`
	Virtual  bool   `json:"virtual,omitempty"`
	Subgraph bool   `json:"subgraph,omitempty"`
	Parent   string `json:"parent,omitempty"`
}

// Metadata is what the agent knows about a workflow; its JSON is the spec's preview metadata
// plus extra fields.
type Metadata struct {
	Format  string     `json:"format"`
	Wrapper string     `json:"wrapper,omitempty"`
	Nodes   []NodeInfo `json:"nodes"`
	// RequiredModels are the models active nodes load; InactiveModels those only muted or
	// bypassed nodes load (not required).
	RequiredModels []ModelRef `json:"required_models"`
	InactiveModels []ModelRef `json:"inactive_models"`
	// RequiredCustomNodes are the packs active nodes need; InactiveCustomNodes the others.
	RequiredCustomNodes []PackRef `json:"required_custom_nodes"`
	InactiveCustomNodes []PackRef `json:"inactive_custom_nodes"`
	UnresolvedNodeTypes []string  `json:"unresolved_node_types"`
	// EstimatedVRAM in MB (VRAM.EstimatedMB).
	EstimatedVRAM int64        `json:"estimated_vram"`
	VRAM          VRAMEstimate `json:"vram"`
	WorkflowType  string       `json:"workflow_type"`
	Tags          []string     `json:"tags"`
	Warnings      []string     `json:"warnings"`
}

// Analysis is a parsed workflow with its metadata.
type Analysis struct {
	Doc      *Document
	Graph    *Graph
	Metadata *Metadata
	// Present maps ModelRef.Key() to the local path of models found in the store.
	Present map[string]string
}

// Parse decodes and flattens a workflow without resolving anything.
func Parse(raw []byte, lim Limits) (*Document, *Graph, error) {
	doc, err := Decode(raw, lim)
	if err != nil {
		return nil, nil, err
	}
	g, err := BuildGraph(doc, lim)
	if err != nil {
		return nil, nil, err
	}
	return doc, g, nil
}

// Analyze parses raw and computes its Metadata.
func (s *Service) Analyze(ctx context.Context, raw []byte) (*Analysis, error) {
	doc, err := Decode(raw, s.lim)
	if err != nil {
		return nil, err
	}
	return s.AnalyzeDocument(ctx, doc)
}

// AnalyzeDocument computes the Metadata of a decoded document.
func (s *Service) AnalyzeDocument(ctx context.Context, doc *Document) (*Analysis, error) {
	g, err := BuildGraph(doc, s.lim)
	if err != nil {
		if doc.Wrapper != "" {
			return nil, prefixErr(doc.Wrapper, err)
		}
		return nil, err
	}
	ix := s.managerIndex(ctx)
	f := runChain(ctx, s.reg, &Input{Doc: doc, Graph: g, Manager: ix})
	if doc.Launcher != nil {
		addLauncherFiles(f, doc.Launcher)
	}
	a := &Analysis{Doc: doc, Graph: g, Present: map[string]string{}}
	s.sizeModels(f, ix, a.Present)

	md := &Metadata{Format: doc.Format, Wrapper: doc.Wrapper, Nodes: []NodeInfo{}, RequiredModels: []ModelRef{},
		InactiveModels: []ModelRef{}, RequiredCustomNodes: []PackRef{}, InactiveCustomNodes: []PackRef{},
		UnresolvedNodeTypes: []string{}, Tags: []string{}, Warnings: []string{}}
	for _, n := range g.Nodes {
		title := n.Title
		if title == "" {
			title = n.Type
		}
		md.Nodes = append(md.Nodes, NodeInfo{ID: n.ID, Type: n.Type, Title: title, Muted: n.InactiveReason == "muted",
			Bypassed: n.InactiveReason == "bypassed", Virtual: n.Virtual, Subgraph: n.Instance, Parent: n.Parent})
	}
	for _, m := range f.Models {
		if m.Inactive {
			md.InactiveModels = append(md.InactiveModels, m)
		} else {
			md.RequiredModels = append(md.RequiredModels, m)
		}
	}
	packs, unresolved := ResolvePacks(g, ix, f.Packs)
	for _, p := range packs {
		if p.Inactive {
			md.InactiveCustomNodes = append(md.InactiveCustomNodes, p)
		} else {
			md.RequiredCustomNodes = append(md.RequiredCustomNodes, p)
		}
	}
	if unresolved != nil {
		md.UnresolvedNodeTypes = unresolved
	}
	md.VRAM = EstimateVRAM(g, md.RequiredModels)
	md.EstimatedVRAM = md.VRAM.EstimatedMB
	primary, tags := Classify(g, ix)
	md.WorkflowType = primary
	md.Tags = append(md.Tags, tags...)
	for _, t := range f.Tags {
		if !contains(md.Tags, t) {
			md.Tags = append(md.Tags, t)
		}
	}
	md.Warnings = append(md.Warnings, g.Warnings...)
	md.Warnings = append(md.Warnings, f.Warnings...)
	if len(unresolved) > 0 {
		md.Warnings = append(md.Warnings, "node types not resolved to any custom node pack: "+strings.Join(unresolved, ", "))
	}
	md.Warnings = append(md.Warnings, s.manager.Warnings()...)
	a.Metadata = md
	return a, nil
}

// addLauncherFiles merges a launcher JSON's files (URL, checksum, size) into the findings; files
// that no node names are still required (the launcher file says so).
func addLauncherFiles(f *Findings, lj *LauncherJSON) {
	for _, alts := range lj.Files {
		if len(alts) == 0 {
			continue
		}
		first := alts[0]
		folder, name, ok := launcherModel(first.DestRelativePath)
		if !ok {
			continue
		}
		hit := false
		for i := range f.Models {
			m := &f.Models[i]
			if (m.Folder == folder || m.Folder == "") && (strings.EqualFold(m.Filename, name) || strings.EqualFold(path.Base(m.Filename), path.Base(name))) {
				hit = true
				if m.URL == "" && first.DownloadURL != "" {
					m.URL, m.URLSource = first.DownloadURL, "launcher"
				}
				if m.SHA256 == "" {
					m.SHA256 = first.SHA256Checksum
				}
				if m.Size == 0 {
					m.Size = first.Size
				}
			}
		}
		if !hit {
			f.AddModel(ModelRef{Filename: name, Folder: folder, URL: first.DownloadURL, URLSource: "launcher", SHA256: first.SHA256Checksum,
				Size: first.Size, Source: "launcher"})
		}
	}
}

// sizeModels fills sizes (resident bytes) and missing URLs: the local store first (safetensors
// header for fp32 files), then what the workflow carried, then the Manager model list.
func (s *Service) sizeModels(f *Findings, ix *ManagerIndex, present map[string]string) {
	for i := range f.Models {
		m := &f.Models[i]
		if s.catalog != nil {
			if p, size, ok := s.lookup(m.Folder, m.Filename); ok {
				present[m.Key()] = p
				m.Size = s.residentSize(m.Folder, p, size)
			}
		}
		if best, ok := bestListed(ix.ListedModels(m.Folder, m.Filename), m.Filename); ok {
			if m.URL == "" && best.URL != "" {
				m.URL, m.URLSource = best.URL, "comfyui-manager"
			}
			if m.Size == 0 {
				m.Size = best.Size
			}
		}
		if _, local := present[m.Key()]; !local && m.Size > 0 && m.Folder == "checkpoints" && strings.HasSuffix(strings.ToLower(m.Filename), ".ckpt") {
			// Old fp32+EMA checkpoints load as fp16 weights only.
			m.Size /= 2
		}
	}
}

// lookup tries the name as given, then with the usual extensions (embedding names may omit it).
func (s *Service) lookup(folder, name string) (string, int64, bool) {
	if p, size, ok := s.catalog.Lookup(folder, name); ok {
		return p, size, true
	}
	if folder == "embeddings" && !comfy.HasModelExt(name) {
		for _, ext := range []string{".safetensors", ".pt", ".bin"} {
			if p, size, ok := s.catalog.Lookup(folder, name+ext); ok {
				return p, size, true
			}
		}
	}
	return "", 0, false
}

func (s *Service) residentSize(folder, p string, size int64) int64 {
	switch {
	case strings.HasSuffix(strings.ToLower(p), ".safetensors"):
		st, err := s.header(p)
		if err != nil {
			s.log.Debug("safetensors header unreadable; using file size", "path", p, "err", err)
			return size
		}
		if st.Dominant() == "F32" && stageOf[folder] != "" {
			// ComfyUI computes in fp16/bf16: fp32 weights are cast on load.
			return size - st.Bytes["F32"]/2
		}
		return size
	case strings.HasSuffix(strings.ToLower(p), ".ckpt") && folder == "checkpoints":
		return size / 2
	}
	return size
}

// genericNames are file names many models share; they match the model list only with their
// subfolder.
var genericNames = map[string]bool{
	"model.safetensors": true, "diffusion_pytorch_model.safetensors": true, "pytorch_model.bin": true,
	"diffusion_pytorch_model.bin": true, "model.fp16.safetensors": true, "diffusion_pytorch_model.fp16.safetensors": true,
	"model.bin": true, "model.ckpt": true, "model.pt": true, "model.pth": true,
}

// bestListed picks the model-list entry for name: the same relative name, else the same base name
// unless that base name is generic.
func bestListed(listed []ListedModel, name string) (ListedModel, bool) {
	for _, l := range listed {
		if strings.EqualFold(l.Filename, name) {
			return l, true
		}
	}
	base := strings.ToLower(path.Base(name))
	if len(listed) == 0 || genericNames[base] {
		return ListedModel{}, false
	}
	return listed[0], true
}
