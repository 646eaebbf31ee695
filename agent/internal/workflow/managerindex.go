package workflow

import (
	"path"
	"strings"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/managerdata"
)

// ListedModel is a model-list.json entry reduced to what the agent uses.
type ListedModel = managerdata.Model

// ManagerIndex is the Manager data as the parser chain sees it: one version of the
// managerdata.Index plus the core node types embedded in the binary. Lookups that cost (the
// nodename_pattern regexps) are remembered for the life of the version. The nil *ManagerIndex
// knows nothing; NewManagerIndex(nil) knows only the core types.
type ManagerIndex struct {
	data *managerdata.Index
	core map[string]bool

	patternMu sync.Mutex
	patterns  map[string][]string // node type -> packs whose nodename_pattern matches it
}

// NewManagerIndex wraps one version of the Manager data (nil: none) with the embedded core
// node list.
func NewManagerIndex(data *managerdata.Index) *ManagerIndex {
	return newManagerIndex(data, parseLines(coreNodesTXT))
}

func newManagerIndex(data *managerdata.Index, core map[string]bool) *ManagerIndex {
	return &ManagerIndex{data: data, core: core, patterns: map[string][]string{}}
}

// Data is the Manager data this index wraps (nil when none).
func (ix *ManagerIndex) Data() *managerdata.Index {
	if ix == nil {
		return nil
	}
	return ix.data
}

// Has reports whether the Manager file (managerdata.FileNodeMap, ...) is loaded.
func (ix *ManagerIndex) Has(file string) bool { return ix.Data().Has(file) }

// patternRepos memoises managerdata.Index.PatternRepos: a workflow repeats node types, and
// the next request on the same data version asks for the same ones.
func (ix *ManagerIndex) patternRepos(t string) []string {
	ix.patternMu.Lock()
	defer ix.patternMu.Unlock()
	if r, ok := ix.patterns[t]; ok {
		return r
	}
	r := ix.data.PatternRepos(t)
	if len(ix.patterns) < maxPatternMemo { // requests choose the types: bound what they add
		// A copy: t may share the memory of a whole request body (DecodeField), which the
		// memo would otherwise keep for the life of the data version.
		ix.patterns[strings.Clone(t)] = r
	}
	return r
}

// maxPatternMemo bounds the remembered pattern lookups (the node map lists about 40,000 types).
const maxPatternMemo = 100_000

// ListedModels returns the model-list entries for a file name (any subfolder); folder "" matches
// any folder.
func (ix *ManagerIndex) ListedModels(folder, name string) []ListedModel {
	if ix == nil {
		return nil
	}
	var out []ListedModel
	for _, m := range ix.data.Models(NormalizeName(name)) {
		if folder == "" || m.Folder == folder {
			out = append(out, m)
		}
	}
	return out
}

// FolderOf guesses a model's folder from the Manager model list when the name is unambiguous.
func (ix *ManagerIndex) FolderOf(name string) string {
	ms := ix.ListedModels("", name)
	if len(ms) == 0 || genericNames[strings.ToLower(path.Base(NormalizeName(name)))] {
		return ""
	}
	f := ms[0].Folder
	for _, m := range ms[1:] {
		if m.Folder != f {
			return ""
		}
	}
	if f == "etc" {
		return ""
	}
	return f
}

// IsCore reports whether a node type is a core ComfyUI node.
func (ix *ManagerIndex) IsCore(t string) bool {
	return ix != nil && (ix.core[t] || ix.data.CoreType(t))
}

// Title is the Manager's title for a pack.
func (ix *ManagerIndex) Title(repo string) string {
	if ix == nil {
		return ""
	}
	return ix.data.Title(repo)
}
