package managerdata

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

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

// Index is one version of the Manager data in lookup form: only what lookups read, never the
// raw JSON, packed (strtable.go) so that it costs little more resident memory than its live
// heap. It is immutable; a reload builds a new Index with a higher Version. The nil *Index
// answers every lookup with "unknown".
type Index struct {
	version uint64
	nodes   *nodeMap
	stats   *starList
	custom  *customList
	models  *modelList
	keys    repoKeys
}

type patternPack struct {
	re   *regexp.Regexp
	repo string
}

// nodeMap is extension-node-map.json.
type nodeMap struct {
	repoTab strTable // each pack's repository, numbered in key order
	repos   []string // repoTab's strings, so that a lookup returns a one-pack slice of it
	titles  strList  // by repository number
	core    strTable
	types   strTable
	// typeRepo is, by type number, the number of the one pack listing the type, or
	// multiRepos|k for the packs in multi[multiAt[k]:multiAt[k+1]].
	typeRepo    []uint32
	multi       []string
	multiAt     []uint32
	preempt     strTable
	preemptRepo []uint32 // by preempted type number
	// patternExprs are the nodename_patterns, of the packs patternRepo, compiled on the first
	// PatternRepos: compiled during the parse, the regexps' few hundred small objects landed
	// in heap spans beside its garbage and kept them resident.
	patternExprs strList
	patternRepo  []uint32
	patternsOnce sync.Once
	patterns     []patternPack
}

// starList is github-stats.json.
type starList struct {
	repos strTable
	stars []int
}

// customList is custom-node-list.json.
type customList struct {
	repoTab strTable // each entry's repository, then its reference when different, in list order
	titles  strList  // by repository number: the first entry's title ("" for a reference only)
	cnr     strTable // lower-case registry ids
	cnrRepo []uint32 // by registry id number
}

// modelList is model-list.json.
type modelList struct {
	names   strTable // lower-case base file names
	at      []uint32 // the entries of name i are entries[at[i]:at[i+1]]
	entries []Model
}

// repoKeys find the repositories of both lists by their last URL segment and by "owner/repo",
// any case. The keys are cut from the repositories when compared, so they cost no strings.
type repoKeys struct {
	nodes  []string // the node map's repositories, numbered first
	custom *strList // then the list's
	segs   hashIndex
	segOf  []uint32 // by segment number: a repository it is cut from
	segAt  []uint32 // the repositories of segment i are segRepos[segAt[i]:segAt[i+1]]
	// segRepos holds the repositories themselves, so that ReposNamed returns a slice of it.
	segRepos []string
	owners   hashIndex
	ownerOf  []uint32 // by owner/repo number: the first repository with it
}

// parts are the parsed files an Index is combined from; each file is parsed on its own so a
// refresh of one replaces only its part.
type parts struct {
	nodes  *nodeMap
	stats  *starList
	custom *customList
	models *modelList
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
		var s *starList
		if s, err = parseStats(b); err == nil {
			p.stats = s
		}
	case FileCustomList:
		var c *customList
		if c, err = parseCustomList(b); err == nil {
			p.custom = c
		}
	case FileModelList:
		var m *modelList
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
	ix := &Index{version: version, nodes: p.nodes, stats: p.stats, custom: p.custom, models: p.models}
	if p.nodes != nil {
		ix.keys.nodes = p.nodes.repos
	}
	if p.custom != nil {
		ix.keys.custom = &p.custom.repoTab.strList
	}
	ix.keys.index()
	return ix
}

// repo is repository number i: the node map's, then the list's.
func (k *repoKeys) repo(i uint32) string {
	if int(i) < len(k.nodes) {
		return k.nodes[i]
	}
	return k.custom.str(int(i) - len(k.nodes))
}

// index keys every repository by last segment (all of them, in order) and by owner/repo (the
// first one).
func (k *repoKeys) index() {
	n := len(k.nodes)
	if k.custom != nil {
		n += k.custom.Len()
	}
	segs, owners := newStrBuilder(), newStrBuilder()
	var segRepos [][]string
	for i := range uint32(n) {
		repo := k.repo(i)
		last, ownerName, ok := repoKeyParts(repo)
		if !ok {
			continue
		}
		if s := segs.add(strings.ToLower(last)); s == len(segRepos) {
			segRepos = append(segRepos, []string{repo})
			k.segOf = append(k.segOf, i)
		} else if !contains(segRepos[s], repo) {
			segRepos[s] = append(segRepos[s], repo)
		}
		if o := owners.add(strings.ToLower(ownerName)); o == len(k.ownerOf) {
			k.ownerOf = append(k.ownerOf, i)
		}
	}
	k.segOf, k.ownerOf = slices.Clip(k.segOf), slices.Clip(k.ownerOf)
	k.segs, k.owners = segs.table().index, owners.table().index
	k.segAt, k.segRepos = flatten(segRepos)
}

// repoKeyParts cuts a repository URL's last segment and its last two ("owner/name"); ok is false
// for a URL of one segment.
func repoKeyParts(repo string) (last, ownerName string, ok bool) {
	trimmed := strings.TrimSuffix(repo, "/")
	i := strings.LastIndexByte(trimmed, '/')
	if i < 0 {
		return "", "", false
	}
	j := strings.LastIndexByte(trimmed[:i], '/')
	return trimmed[i+1:], trimmed[j+1:], true
}

// lowerIs reports whether strings.ToLower(s) == lower, allocating only when s is not ASCII.
func lowerIs(s, lower string) bool {
	if len(s) != len(lower) {
		for i := range len(s) {
			if s[i] >= utf8.RuneSelf {
				return strings.ToLower(s) == lower
			}
		}
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s) == lower
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// flatten lays lists end to end: list i is flat[at[i]:at[i+1]].
func flatten(lists [][]string) (at []uint32, flat []string) {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	at, flat = make([]uint32, len(lists)+1), make([]string, 0, n)
	for i, l := range lists {
		flat = append(flat, l...)
		at[i+1] = uint32(len(flat))
	}
	return at, flat
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
	// Sorted so that "first claim wins" rules are deterministic.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	repos, core, types, preempt := newStrBuilder(), newStrBuilder(), newStrBuilder(), newStrBuilder()
	var titles []string      // by repo number
	var claims []typeClaim   // every type of every pack, in key order
	var preemptRepo []uint32 // by preempted type number
	var patterns []string    // nodename_patterns
	var patternRepo []uint32 // by pattern
	for _, key := range keys {
		entry := m[key]
		repo := NormRepo(key)
		if len(entry) == 0 {
			continue
		}
		var typeNames []string
		if err := json.Unmarshal(entry[0], &typeNames); err != nil {
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
		r := repos.add(repo)
		if r == len(titles) {
			titles = append(titles, title)
		} else {
			titles[r] = title
		}
		if repo == coreRepo {
			for _, t := range typeNames {
				core.add(t)
			}
			continue
		}
		for _, t := range typeNames {
			claims = append(doubled(claims, 1), typeClaim{typ: uint32(types.add(t)), repo: uint32(r)})
		}
		for _, t := range meta.Preemptions {
			if i := preempt.add(t); i == len(preemptRepo) {
				preemptRepo = append(preemptRepo, uint32(r))
			}
		}
		if meta.Pattern != "" {
			patterns, patternRepo = append(patterns, meta.Pattern), append(patternRepo, uint32(r))
		}
	}
	n := &nodeMap{repoTab: repos.table(), core: core.table(), types: types.table(), preempt: preempt.table(),
		preemptRepo: slices.Clone(preemptRepo)}
	n.repos = n.repoTab.strs()
	n.titles = newStrList(titles)
	n.packTypes(claims)
	n.patternExprs, n.patternRepo = newStrList(patterns), slices.Clone(patternRepo)
	return n, nil
}

// compiledPatterns are the packs' nodename_patterns that compile, by repository.
func (n *nodeMap) compiledPatterns() []patternPack {
	n.patternsOnce.Do(func() {
		for i, r := range n.patternRepo {
			if re, err := regexp.Compile(n.patternExprs.str(i)); err == nil {
				n.patterns = append(n.patterns, patternPack{re: re, repo: n.repos[r]})
			}
		}
		sort.Slice(n.patterns, func(i, j int) bool { return n.patterns[i].repo < n.patterns[j].repo })
	})
	return n.patterns
}

// multiRepos flags a typeRepo value that indexes multiAt.
const multiRepos = 1 << 31

// typeClaim is a pack's node list naming a type, by their numbers.
type typeClaim struct{ typ, repo uint32 }

// packTypes stores the packs of each type: most types have one, a number; the others' lists
// lie end to end in multi, sorted.
func (n *nodeMap) packTypes(claims []typeClaim) {
	n.typeRepo = make([]uint32, n.types.Len())
	count := make([]uint32, n.types.Len())
	for _, c := range claims {
		count[c.typ]++
		n.typeRepo[c.typ] = c.repo
	}
	// The claims of the types listed more than once, grouped by type in order of number.
	var shared []typeClaim
	for _, c := range claims {
		if count[c.typ] > 1 {
			shared = append(shared, c)
		}
	}
	slices.SortStableFunc(shared, func(a, b typeClaim) int { return int(a.typ) - int(b.typ) })
	n.multi, n.multiAt = make([]string, 0, len(shared)), []uint32{0}
	for len(shared) > 0 {
		t := shared[0].typ
		k, start := int(count[t]), len(n.multi)
		for _, c := range shared[:k] {
			n.multi = append(n.multi, n.repos[c.repo])
		}
		sort.Strings(n.multi[start:])
		n.typeRepo[t] = multiRepos | uint32(len(n.multiAt)-1)
		n.multiAt = append(n.multiAt, uint32(len(n.multi)))
		shared = shared[k:]
	}
}

func parseStats(b []byte) (*starList, error) {
	var stats map[string]struct {
		Stars int `json:"stars"`
	}
	if err := json.Unmarshal(b, &stats); err != nil {
		return nil, err
	}
	repos := newStrBuilder()
	var stars []int
	for repo, s := range stats {
		if i := repos.add(NormRepo(repo)); i == len(stars) {
			stars = append(stars, s.Stars)
		} else {
			stars[i] = s.Stars
		}
	}
	return &starList{repos: repos.table(), stars: slices.Clone(stars)}, nil
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
	repos, cnr := newStrBuilder(), newStrBuilder()
	var titles []string  // by repo number
	var cnrRepo []uint32 // by id number
	add := func(repo, title string) int {
		i := repos.add(repo)
		if i == len(titles) {
			titles = append(titles, title)
		} else if titles[i] == "" {
			titles[i] = title
		}
		return i
	}
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
		r := add(repo, e.Title)
		if e.ID != "" {
			if i := cnr.add(strings.ToLower(e.ID)); i == len(cnrRepo) {
				cnrRepo = append(cnrRepo, uint32(r))
			}
		}
		if ref := NormRepo(e.Reference); ref != "" && ref != repo {
			add(ref, "")
		}
	}
	return &customList{repoTab: repos.table(), titles: newStrList(titles), cnr: cnr.table(), cnrRepo: slices.Clone(cnrRepo)}, nil
}

func parseModelList(b []byte) (*modelList, error) {
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
	names := newStrBuilder()
	var byName [][]Model
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
		if i := names.add(strings.ToLower(path.Base(fn))); i == len(byName) {
			byName = append(byName, []Model{e})
		} else {
			byName[i] = append(byName[i], e)
		}
	}
	total := 0
	for _, ms := range byName {
		total += len(ms)
	}
	ml := &modelList{names: names.table(), at: make([]uint32, len(byName)+1), entries: make([]Model, 0, total)}
	// Every string of every entry in one blob, each distinct value once (types, bases and
	// folders repeat).
	strs := newStrBuilder()
	for _, ms := range byName {
		for _, m := range ms {
			for _, s := range m.stringFields() {
				strs.add(*s)
			}
		}
	}
	packed := strs.list()
	for i, ms := range byName {
		for _, m := range ms {
			for _, s := range m.stringFields() {
				*s = packed.str(strs.add(*s))
			}
			ml.entries = append(ml.entries, m)
		}
		ml.at[i+1] = uint32(len(ml.entries))
	}
	return ml, nil
}

// stringFields are the entry's string fields, to repack them.
func (m *Model) stringFields() [7]*string {
	return [7]*string{&m.Name, &m.Type, &m.Base, &m.Folder, &m.Filename, &m.URL, &m.File}
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
func (ix *Index) CoreType(t string) bool {
	return ix != nil && ix.nodes != nil && ix.nodes.core.find(t) >= 0
}

// ReposOfType are the packs whose node list has the type, sorted; callers must not modify it.
func (ix *Index) ReposOfType(t string) []string {
	if ix == nil || ix.nodes == nil {
		return nil
	}
	n := ix.nodes
	i := n.types.find(t)
	if i < 0 {
		return nil
	}
	v := n.typeRepo[i]
	if v&multiRepos == 0 {
		return n.repos[v : v+1 : v+1]
	}
	k := v &^ multiRepos
	return n.multi[n.multiAt[k]:n.multiAt[k+1]:n.multiAt[k+1]]
}

// Preemptor is the pack that claims the type ahead of every other (the node map's
// "preemptions"), "" when none.
func (ix *Index) Preemptor(t string) string {
	if ix == nil || ix.nodes == nil {
		return ""
	}
	if i := ix.nodes.preempt.find(t); i >= 0 {
		return ix.nodes.repos[ix.nodes.preemptRepo[i]]
	}
	return ""
}

// PatternRepos are the packs whose nodename_pattern matches the type, by repository URL.
func (ix *Index) PatternRepos(t string) []string {
	if ix == nil || ix.nodes == nil {
		return nil
	}
	var out []string
	for _, p := range ix.nodes.compiledPatterns() {
		if p.re.MatchString(t) {
			out = append(out, p.repo)
		}
	}
	return out
}

// Stars is the pack's GitHub star count (0 when unknown).
func (ix *Index) Stars(repo string) int {
	if ix == nil || ix.stats == nil {
		return 0
	}
	if i := ix.stats.repos.find(repo); i >= 0 {
		return ix.stats.stars[i]
	}
	return 0
}

// Title is the Manager's title for a pack: the node map's, else the custom node list's.
func (ix *Index) Title(repo string) string {
	if ix == nil {
		return ""
	}
	if ix.nodes != nil {
		if i := ix.nodes.repoTab.find(repo); i >= 0 {
			if t := ix.nodes.titles.str(i); t != "" {
				return t
			}
		}
	}
	if ix.custom != nil {
		if i := ix.custom.repoTab.find(repo); i >= 0 {
			return ix.custom.titles.str(i)
		}
	}
	return ""
}

// RepoOfRegistryID is the repository of a Comfy registry id (a node's cnr_id), "" when unknown.
func (ix *Index) RepoOfRegistryID(id string) string {
	if ix == nil || ix.custom == nil {
		return ""
	}
	if i := ix.custom.cnr.find(strings.ToLower(id)); i >= 0 {
		return ix.custom.repoTab.str(int(ix.custom.cnrRepo[i]))
	}
	return ""
}

// ReposNamed are the repositories whose last URL segment is name (any case); callers must not
// modify it.
func (ix *Index) ReposNamed(name string) []string {
	if ix == nil {
		return nil
	}
	k, q := &ix.keys, strings.ToLower(name)
	i := k.segs.find(q, func(id int) bool {
		last, _, _ := repoKeyParts(k.repo(k.segOf[id]))
		return lowerIs(last, q)
	})
	if i < 0 {
		return nil
	}
	return k.segRepos[k.segAt[i]:k.segAt[i+1]:k.segAt[i+1]]
}

// RepoOfOwnerName is the repository "owner/name" (any case) refers to, "" when unknown.
func (ix *Index) RepoOfOwnerName(ownerName string) string {
	if ix == nil {
		return ""
	}
	k, q := &ix.keys, strings.ToLower(ownerName)
	i := k.owners.find(q, func(id int) bool {
		_, on, _ := repoKeyParts(k.repo(k.ownerOf[id]))
		return lowerIs(on, q)
	})
	if i < 0 {
		return ""
	}
	return k.repo(k.ownerOf[i])
}

// Models are the model-list entries whose file has this base name (any case, any subfolder);
// callers must not modify it.
func (ix *Index) Models(name string) []Model {
	if ix == nil || ix.models == nil {
		return nil
	}
	ml := ix.models
	if i := ml.names.find(strings.ToLower(path.Base(name))); i >= 0 {
		return ml.entries[ml.at[i]:ml.at[i+1]:ml.at[i+1]]
	}
	return nil
}
