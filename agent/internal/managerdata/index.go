package managerdata

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
)

// coreRepo is the node-map entry of ComfyUI itself: its node types are core, not a pack.
const coreRepo = "https://github.com/comfyanonymous/ComfyUI"

// Model is a model-list.json entry reduced to what the agent uses.
type Model struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Base string `json:"base"`
	// Folder is the ComfyUI folder key the Manager installs the file into ("etc" when it maps
	// none); Filename is relative to it and keeps the save_path subfolder ("FLUX1/x.safetensors").
	Folder   string `json:"folder"`
	Filename string `json:"filename"`
	URL      string `json:"url"`
	Size     int64  `json:"size"`
	// File is the entry's own file name, without the save_path subfolder.
	File string `json:"-"`
}

// Index is one version of the Manager data in lookup form: only the maps lookups need, never
// the raw JSON. It is immutable; a reload builds a new Index with a higher Version. The nil
// *Index answers every lookup with "unknown".
type Index struct {
	version uint64
	nodes   *nodeMap
	stats   map[string]int
	custom  *customList
	models  map[string][]Model // lower-case base file name -> entries
	// lastSeg maps a lower-case last URL segment to repos; ownerRepo a lower-case "owner/repo".
	lastSeg   map[string][]string
	ownerRepo map[string]string
}

type patternPack struct {
	re   *regexp.Regexp
	repo string
}

// nodeMap is extension-node-map.json. Its 40,000 node types dominate the index's memory, so
// their names live in one string (the map keys are slices of it) and each maps to a small
// number instead of a slice.
type nodeMap struct {
	core map[string]bool
	// typeRepo is repos index + 1 of the one pack listing the type, or multiRepos|i for the
	// packs in multi[i].
	typeRepo map[string]uint32
	multi    [][]string
	preempt  map[string]string
	patterns []patternPack
	titles   map[string]string
	repos    []string // sorted
}

// customList is custom-node-list.json.
type customList struct {
	cnr    map[string]string // lower-case registry id -> repo
	titles map[string]string
	repos  []string // in list order: each entry's repo, then its reference when different
}

// parts are the parsed files an Index is combined from; each file is parsed on its own so a
// refresh of one replaces only its part.
type parts struct {
	nodes  *nodeMap
	stats  map[string]int
	custom *customList
	models map[string][]Model
}

func (p parts) has(name string) bool {
	switch name {
	case FileNodeMap:
		return p.nodes != nil
	case FileStats:
		return p.stats != nil
	case FileCustomList:
		return p.custom != nil
	case FileModelList:
		return p.models != nil
	}
	return false
}

// parse replaces the part of file name with the parsed content of b.
func (p *parts) parse(name string, b []byte) error {
	var err error
	switch name {
	case FileNodeMap:
		var n *nodeMap
		if n, err = parseNodeMap(b); err == nil {
			p.nodes = n
		}
	case FileStats:
		var s map[string]int
		if s, err = parseStats(b); err == nil {
			p.stats = s
		}
	case FileCustomList:
		var c *customList
		if c, err = parseCustomList(b); err == nil {
			p.custom = c
		}
	case FileModelList:
		var m map[string][]Model
		if m, err = parseModelList(b); err == nil {
			p.models = m
		}
	default:
		err = fmt.Errorf("unknown Manager data file %q", name)
	}
	if err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}

// build combines the parts into an Index.
func (p parts) build(version uint64) *Index {
	ix := &Index{version: version, nodes: p.nodes, stats: p.stats, custom: p.custom, models: p.models,
		lastSeg: map[string][]string{}, ownerRepo: map[string]string{}}
	if p.nodes != nil {
		for _, r := range p.nodes.repos {
			ix.addRepoKeys(r)
		}
	}
	if p.custom != nil {
		for _, r := range p.custom.repos {
			ix.addRepoKeys(r)
		}
	}
	return ix
}

func (ix *Index) addRepoKeys(repo string) {
	segs := strings.Split(strings.TrimSuffix(repo, "/"), "/")
	if len(segs) < 2 {
		return
	}
	last := strings.ToLower(segs[len(segs)-1])
	if !contains(ix.lastSeg[last], repo) {
		ix.lastSeg[last] = append(ix.lastSeg[last], repo)
	}
	or := strings.ToLower(segs[len(segs)-2] + "/" + segs[len(segs)-1])
	if _, ok := ix.ownerRepo[or]; !ok {
		ix.ownerRepo[or] = repo
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// NormRepo is the form repositories are keyed by: trimmed, without a trailing "/" or ".git".
func NormRepo(u string) string {
	u = strings.TrimSpace(u)
	return strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
}

func parseNodeMap(b []byte) (*nodeMap, error) {
	var m map[string][]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	n := &nodeMap{core: map[string]bool{}, preempt: map[string]string{}, titles: map[string]string{}}
	typeRepos := map[string][]string{}
	// Sorted so that "first claim wins" rules are deterministic.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		entry := m[key]
		repo := NormRepo(key)
		if len(entry) == 0 {
			continue
		}
		var types []string
		if err := json.Unmarshal(entry[0], &types); err != nil {
			continue
		}
		var meta struct {
			TitleAux    string   `json:"title_aux"`
			Title       string   `json:"title"`
			Pattern     string   `json:"nodename_pattern"`
			Preemptions []string `json:"preemptions"`
		}
		if len(entry) > 1 {
			_ = json.Unmarshal(entry[1], &meta) // metadata is optional; a bad one leaves it empty
		}
		title := meta.TitleAux
		if title == "" {
			title = meta.Title
		}
		n.titles[repo] = title
		n.repos = append(n.repos, repo)
		if repo == coreRepo {
			for _, t := range types {
				n.core[t] = true
			}
			continue
		}
		for _, t := range types {
			typeRepos[t] = append(typeRepos[t], repo)
		}
		for _, t := range meta.Preemptions {
			if _, taken := n.preempt[t]; !taken {
				n.preempt[t] = repo
			}
		}
		if meta.Pattern != "" {
			if re, err := regexp.Compile(meta.Pattern); err == nil {
				n.patterns = append(n.patterns, patternPack{re: re, repo: repo})
			}
		}
	}
	sort.Slice(n.patterns, func(i, j int) bool { return n.patterns[i].repo < n.patterns[j].repo })
	n.compactTypes(typeRepos)
	return n, nil
}

// multiRepos flags a typeRepo value that indexes multi.
const multiRepos = 1 << 31

// compactTypes stores typeRepos in the compact form: names in one arena string, one number each.
func (n *nodeMap) compactTypes(typeRepos map[string][]string) {
	repoIdx := make(map[string]uint32, len(n.repos))
	for i, r := range n.repos {
		repoIdx[r] = uint32(i) + 1
	}
	size := 0
	for t := range typeRepos {
		size += len(t)
	}
	var arena strings.Builder
	arena.Grow(size)
	offs := make(map[string]int, len(typeRepos))
	for t := range typeRepos {
		offs[t] = arena.Len()
		arena.WriteString(t)
	}
	all := arena.String()
	n.typeRepo = make(map[string]uint32, len(typeRepos))
	for t, repos := range typeRepos {
		key := all[offs[t] : offs[t]+len(t)]
		if len(repos) == 1 {
			n.typeRepo[key] = repoIdx[repos[0]]
			continue
		}
		sort.Strings(repos)
		n.typeRepo[key] = multiRepos | uint32(len(n.multi))
		n.multi = append(n.multi, repos)
	}
}

func parseStats(b []byte) (map[string]int, error) {
	var stats map[string]struct {
		Stars int `json:"stars"`
	}
	if err := json.Unmarshal(b, &stats); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(stats))
	for repo, s := range stats {
		out[NormRepo(repo)] = s.Stars
	}
	return out, nil
}

func parseCustomList(b []byte) (*customList, error) {
	var l struct {
		CustomNodes []struct {
			ID        string   `json:"id"`
			Title     string   `json:"title"`
			Reference string   `json:"reference"`
			Files     []string `json:"files"`
		} `json:"custom_nodes"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	c := &customList{cnr: map[string]string{}, titles: map[string]string{}}
	for _, e := range l.CustomNodes {
		repo := ""
		if len(e.Files) > 0 {
			repo = NormRepo(e.Files[0])
		}
		if repo == "" {
			repo = NormRepo(e.Reference)
		}
		if repo == "" {
			continue
		}
		if e.ID != "" {
			if _, ok := c.cnr[strings.ToLower(e.ID)]; !ok {
				c.cnr[strings.ToLower(e.ID)] = repo
			}
		}
		if c.titles[repo] == "" {
			c.titles[repo] = e.Title
		}
		c.repos = append(c.repos, repo)
		if ref := NormRepo(e.Reference); ref != "" && ref != repo {
			c.repos = append(c.repos, ref)
		}
	}
	return c, nil
}

func parseModelList(b []byte) (map[string][]Model, error) {
	var l struct {
		Models []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Base     string `json:"base"`
			SavePath string `json:"save_path"`
			Filename string `json:"filename"`
			URL      string `json:"url"`
			Size     string `json:"size"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	out := map[string][]Model{}
	for _, m := range l.Models {
		file := m.Filename
		if file == "" || strings.HasPrefix(file, "<") {
			// "<huggingface>": the file is named like the URL's last segment.
			file = comfy.URLFileName(m.URL)
		}
		if file == "" {
			continue
		}
		fn, folder := file, ""
		if m.SavePath == "default" || m.SavePath == "" {
			folder = comfy.ManagerTypeFolder(m.Type)
		} else {
			sp := strings.Trim(strings.ReplaceAll(m.SavePath, "\\", "/"), "/")
			first, rest, _ := strings.Cut(sp, "/")
			folder = comfy.CanonicalFolder(first)
			if rest != "" && first != "custom_nodes" {
				fn = rest + "/" + file
			}
		}
		e := Model{Name: m.Name, Type: m.Type, Base: m.Base, Folder: folder, Filename: fn, URL: m.URL,
			Size: ParseSize(m.Size), File: file}
		k := strings.ToLower(path.Base(fn))
		out[k] = append(out[k], e)
	}
	return out, nil
}

// ParseSize parses Manager sizes like "67.0MB", "1.2 GB", "512KB" into bytes (0 when unknown).
func ParseSize(s string) int64 {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suf string
		m   float64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			mult, s = u.m, strings.TrimSpace(strings.TrimSuffix(s, u.suf))
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0
	}
	return int64(f * mult)
}

// Version identifies this version of the data: it grows with every load, refresh or import,
// so a consumer can cache what it derives from an Index per version.
func (ix *Index) Version() uint64 {
	if ix == nil {
		return 0
	}
	return ix.version
}

// Has reports whether the file was loaded into this index.
func (ix *Index) Has(name string) bool {
	if ix == nil {
		return false
	}
	return parts{nodes: ix.nodes, stats: ix.stats, custom: ix.custom, models: ix.models}.has(name)
}

// CoreType reports whether the node map lists the type under ComfyUI itself.
func (ix *Index) CoreType(t string) bool { return ix != nil && ix.nodes != nil && ix.nodes.core[t] }

// ReposOfType are the packs whose node list has the type, sorted; callers must not modify it.
func (ix *Index) ReposOfType(t string) []string {
	if ix == nil || ix.nodes == nil {
		return nil
	}
	v, ok := ix.nodes.typeRepo[t]
	switch {
	case !ok:
		return nil
	case v&multiRepos != 0:
		return ix.nodes.multi[v&^multiRepos]
	default:
		return []string{ix.nodes.repos[v-1]}
	}
}

// Preemptor is the pack that claims the type ahead of every other (the node map's
// "preemptions"), "" when none.
func (ix *Index) Preemptor(t string) string {
	if ix == nil || ix.nodes == nil {
		return ""
	}
	return ix.nodes.preempt[t]
}

// PatternRepos are the packs whose nodename_pattern matches the type, by repository URL.
func (ix *Index) PatternRepos(t string) []string {
	if ix == nil || ix.nodes == nil {
		return nil
	}
	var out []string
	for _, p := range ix.nodes.patterns {
		if p.re.MatchString(t) {
			out = append(out, p.repo)
		}
	}
	return out
}

// Stars is the pack's GitHub star count (0 when unknown).
func (ix *Index) Stars(repo string) int {
	if ix == nil {
		return 0
	}
	return ix.stats[repo]
}

// Title is the Manager's title for a pack: the node map's, else the custom node list's.
func (ix *Index) Title(repo string) string {
	if ix == nil {
		return ""
	}
	if ix.nodes != nil {
		if t := ix.nodes.titles[repo]; t != "" {
			return t
		}
	}
	if ix.custom != nil {
		return ix.custom.titles[repo]
	}
	return ""
}

// RepoOfRegistryID is the repository of a Comfy registry id (a node's cnr_id), "" when unknown.
func (ix *Index) RepoOfRegistryID(id string) string {
	if ix == nil || ix.custom == nil {
		return ""
	}
	return ix.custom.cnr[strings.ToLower(id)]
}

// ReposNamed are the repositories whose last URL segment is name (any case).
func (ix *Index) ReposNamed(name string) []string {
	if ix == nil {
		return nil
	}
	return ix.lastSeg[strings.ToLower(name)]
}

// RepoOfOwnerName is the repository "owner/name" (any case) refers to, "" when unknown.
func (ix *Index) RepoOfOwnerName(ownerName string) string {
	if ix == nil {
		return ""
	}
	return ix.ownerRepo[strings.ToLower(ownerName)]
}

// Models are the model-list entries whose file has this base name (any case, any subfolder).
func (ix *Index) Models(name string) []Model {
	if ix == nil {
		return nil
	}
	return ix.models[strings.ToLower(path.Base(name))]
}
