package workflow

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
)

// notAFile are loader values that name no file (VAELoader's built-in choices, empty choices).
var notAFile = map[string]bool{
	"": true, "none": true, "null": true, "undefined": true, "pixel_space": true, "baked vae": true,
	"taesd": true, "taesdxl": true, "taesd3": true, "taef1": true, "default": true, "auto": true,
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

func activeFields(n *Node) (bool, string) { return n.Inactive, n.InactiveReason }

// loaderParser reads the inputs the loader table names (data/loaders.tsv).
type loaderParser struct{ t builtinTables }

func (p *loaderParser) Parse(_ context.Context, in *Input, out *Findings) error {
	for _, n := range in.Graph.Nodes {
		slots := p.t.loaders[n.Type]
		if n.Virtual || n.Instance || len(slots) == 0 {
			continue
		}
		for _, s := range slots {
			idx := s.Index
			if in.Graph.Format == FormatAPI {
				idx = -1
			}
			v, ok := n.Value(s.Input, idx)
			str, isStr := v.(string)
			if !ok || !isStr || notAFile[strings.ToLower(strings.TrimSpace(str))] {
				continue
			}
			inactive, reason := activeFields(n)
			if s.Implicit {
				if !inactive {
					out.Warn(fmt.Sprintf("node %s (%s) loads %s files chosen by its %s %q; the workflow does not name them, so they are not checked",
						n.ID, n.Type, s.Folder, s.Input, str))
				}
				continue
			}
			m := ModelRef{
				Filename: str, Folder: s.Folder, NodeType: n.Type, NodeID: n.ID, Input: s.Input,
				Source: "loader", AutoDownload: s.Auto, Directory: s.Dir, Inactive: inactive, InactiveReason: reason,
			}
			if isURL(str) {
				m.URL, m.Filename, m.Source = str, comfy.URLFileName(str), "url"
			}
			out.AddModel(m)
		}
	}
	return nil
}

// metadataParser reads models[] metadata: node properties.models entries whose name the node
// actually uses (the frontend's getSelectedModelsMetadata rule) and the workflow-level list.
type metadataParser struct{}

func (metadataParser) Parse(_ context.Context, in *Input, out *Findings) error {
	for _, n := range in.Graph.Nodes {
		if len(n.Models) == 0 {
			continue
		}
		used := map[string]string{}
		n.Strings(func(key, s string) { used[strings.ToLower(NormalizeName(s))] = key })
		for _, em := range n.Models {
			name := NormalizeName(em.Name)
			key, ok := used[strings.ToLower(name)]
			if !ok {
				continue
			}
			folder := comfy.CanonicalFolder(em.Directory)
			sha := ""
			if strings.EqualFold(em.HashType, "sha256") {
				sha = strings.ToLower(em.Hash)
			}
			if out.Enrich(folder, name, em.URL, sha) {
				continue
			}
			inactive, reason := activeFields(n)
			out.AddModel(ModelRef{Filename: name, Folder: folder, NodeType: n.Type, NodeID: n.ID, Input: key,
				URL: em.URL, SHA256: sha, Source: "metadata", Inactive: inactive, InactiveReason: reason})
		}
	}
	for _, em := range in.Graph.Models {
		name := NormalizeName(em.Name)
		if name == "" {
			name = comfy.URLFileName(em.URL)
		}
		folder := comfy.CanonicalFolder(em.Directory)
		sha := ""
		if strings.EqualFold(em.HashType, "sha256") {
			sha = strings.ToLower(em.Hash)
		}
		if out.Enrich(folder, name, em.URL, sha) {
			continue
		}
		out.AddModel(ModelRef{Filename: name, Folder: folder, URL: em.URL, SHA256: sha, Source: "metadata"})
	}
	return nil
}

// embeddingRe matches "embedding:name" in prompt text (comfy/sd1_clip.py embedding_identifier).
var embeddingRe = regexp.MustCompile(`embedding:([^\s,()\[\]{}<>:"'|]+)`)

// embeddingParser finds textual-inversion embeddings referenced from prompts.
type embeddingParser struct{}

func (embeddingParser) Parse(_ context.Context, in *Input, out *Findings) error {
	for _, n := range in.Graph.Nodes {
		if n.Virtual || n.Instance {
			continue
		}
		n.Strings(func(key, s string) {
			if !strings.Contains(s, "embedding:") {
				return
			}
			for _, m := range embeddingRe.FindAllStringSubmatch(s, -1) {
				name := strings.TrimRight(m[1], ".")
				if name == "" {
					continue
				}
				inactive, reason := activeFields(n)
				out.AddModel(ModelRef{Filename: name, Folder: "embeddings", NodeType: n.Type, NodeID: n.ID, Input: key,
					Source: "embedding", Inactive: inactive, InactiveReason: reason})
			}
		})
	}
	return nil
}

// urlParser finds model download URLs given as values of nodes the loader table does not know
// (e.g. SaladTechnologies/comfyui-api accepts a URL wherever a file name goes).
type urlParser struct{ t builtinTables }

func (p urlParser) Parse(_ context.Context, in *Input, out *Findings) error {
	for _, n := range in.Graph.Nodes {
		if n.Virtual || n.Instance || p.t.loaders[n.Type] != nil {
			continue
		}
		n.Strings(func(key, s string) {
			if !isURL(s) {
				return
			}
			name := comfy.URLFileName(s)
			if !comfy.HasModelExt(name) || out.HasName(name) {
				return
			}
			folder := in.Manager.FolderOf(name)
			if folder == "" {
				folder = p.t.guessFolder(n.Type)
			}
			inactive, reason := activeFields(n)
			out.AddModel(ModelRef{Filename: name, Folder: folder, NodeType: n.Type, NodeID: n.ID, Input: key, URL: s,
				Source: "url", Inactive: inactive, InactiveReason: reason})
		})
	}
	return nil
}

// extensionParser is the last resort (ComfyUI-Launcher's heuristic): any value of a real node
// ending in a model extension is a model file. The folder comes from the Manager model list or
// the node type (data/folder_hints.tsv).
type extensionParser struct{ t builtinTables }

func (p *extensionParser) Parse(_ context.Context, in *Input, out *Findings) error {
	for _, n := range in.Graph.Nodes {
		// Loader-table nodes are fully described by the table: their other values (e.g. a
		// default that a subgraph input overrides) are not loaded.
		if n.Virtual || n.Instance || p.t.loaders[n.Type] != nil {
			continue
		}
		n.Strings(func(key, s string) {
			if isURL(s) || !comfy.HasModelExt(s) || strings.ContainsAny(s, "\n\t") || len(s) > 512 || out.HasName(s) {
				return
			}
			folder := in.Manager.FolderOf(s)
			if folder == "" {
				folder = p.t.guessFolder(n.Type)
			}
			inactive, reason := activeFields(n)
			out.AddModel(ModelRef{Filename: s, Folder: folder, NodeType: n.Type, NodeID: n.ID, Input: key,
				Source: "extension", Inactive: inactive, InactiveReason: reason})
		})
	}
	return nil
}
