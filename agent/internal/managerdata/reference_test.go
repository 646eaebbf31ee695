package managerdata

import (
	"encoding/json"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
)

// refIndex is the straightforward reading of the Manager files into plain maps of strings, the
// way the index was first written. TestIndexMatchesReference holds the compact Index to it.
type refIndex struct {
	core      map[string]bool
	typeRepos map[string][]string // sorted
	preempt   map[string]string
	patterns  []refPattern // by repo
	nodeTitle map[string]string
	stars     map[string]int
	cnr       map[string]string
	listTitle map[string]string
	lastSeg   map[string][]string
	ownerRepo map[string]string
	models    map[string][]Model
}

type refPattern struct {
	re   *regexp.Regexp
	repo string
}

// newRefIndex reads whichever of the four files files holds (by file name).
func newRefIndex(files map[string][]byte) *refIndex {
	r := &refIndex{core: map[string]bool{}, typeRepos: map[string][]string{}, preempt: map[string]string{},
		nodeTitle: map[string]string{}, stars: map[string]int{}, cnr: map[string]string{},
		listTitle: map[string]string{}, lastSeg: map[string][]string{}, ownerRepo: map[string]string{},
		models: map[string][]Model{}}
	var repos []string // node map repos in key order, then the list's
	if b, ok := files[FileNodeMap]; ok {
		repos = r.readNodeMap(b)
	}
	if b, ok := files[FileStats]; ok {
		var stats map[string]struct {
			Stars int `json:"stars"`
		}
		must(json.Unmarshal(b, &stats))
		for repo, s := range stats {
			r.stars[NormRepo(repo)] = s.Stars
		}
	}
	if b, ok := files[FileCustomList]; ok {
		repos = append(repos, r.readCustomList(b)...)
	}
	if b, ok := files[FileModelList]; ok {
		r.readModels(b)
	}
	for _, repo := range repos {
		segs := strings.Split(strings.TrimSuffix(repo, "/"), "/")
		if len(segs) < 2 {
			continue
		}
		last := strings.ToLower(segs[len(segs)-1])
		if !contains(r.lastSeg[last], repo) {
			r.lastSeg[last] = append(r.lastSeg[last], repo)
		}
		or := strings.ToLower(segs[len(segs)-2] + "/" + segs[len(segs)-1])
		if _, ok := r.ownerRepo[or]; !ok {
			r.ownerRepo[or] = repo
		}
	}
	return r
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func (r *refIndex) readNodeMap(b []byte) []string {
	var m map[string][]json.RawMessage
	must(json.Unmarshal(b, &m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var repos []string
	for _, key := range keys {
		entry, repo := m[key], NormRepo(key)
		var types []string
		if len(entry) == 0 || json.Unmarshal(entry[0], &types) != nil {
			continue
		}
		var meta struct {
			TitleAux    string   `json:"title_aux"`
			Title       string   `json:"title"`
			Pattern     string   `json:"nodename_pattern"`
			Preemptions []string `json:"preemptions"`
		}
		if len(entry) > 1 {
			_ = json.Unmarshal(entry[1], &meta)
		}
		title := meta.TitleAux
		if title == "" {
			title = meta.Title
		}
		r.nodeTitle[repo] = title
		repos = append(repos, repo)
		if repo == coreRepo {
			for _, t := range types {
				r.core[t] = true
			}
			continue
		}
		for _, t := range types {
			r.typeRepos[t] = append(r.typeRepos[t], repo)
		}
		for _, t := range meta.Preemptions {
			if _, taken := r.preempt[t]; !taken {
				r.preempt[t] = repo
			}
		}
		if meta.Pattern != "" {
			if re, err := regexp.Compile(meta.Pattern); err == nil {
				r.patterns = append(r.patterns, refPattern{re: re, repo: repo})
			}
		}
	}
	for _, rs := range r.typeRepos {
		sort.Strings(rs)
	}
	sort.SliceStable(r.patterns, func(i, j int) bool { return r.patterns[i].repo < r.patterns[j].repo })
	return repos
}

func (r *refIndex) readCustomList(b []byte) []string {
	var l struct {
		CustomNodes []struct {
			ID        string   `json:"id"`
			Title     string   `json:"title"`
			Reference string   `json:"reference"`
			Files     []string `json:"files"`
		} `json:"custom_nodes"`
	}
	must(json.Unmarshal(b, &l))
	var repos []string
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
		if id := strings.ToLower(e.ID); e.ID != "" {
			if _, ok := r.cnr[id]; !ok {
				r.cnr[id] = repo
			}
		}
		if r.listTitle[repo] == "" {
			r.listTitle[repo] = e.Title
		}
		repos = append(repos, repo)
		if ref := NormRepo(e.Reference); ref != "" && ref != repo {
			repos = append(repos, ref)
		}
	}
	return repos
}

func (r *refIndex) readModels(b []byte) {
	var l struct {
		Models []struct {
			Name, Type, Base, URL, Filename, Size string
			SavePath                              string `json:"save_path"`
		} `json:"models"`
	}
	must(json.Unmarshal(b, &l))
	for _, m := range l.Models {
		file := m.Filename
		if file == "" || strings.HasPrefix(file, "<") {
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
		k := strings.ToLower(path.Base(fn))
		r.models[k] = append(r.models[k], Model{Name: m.Name, Type: m.Type, Base: m.Base, Folder: folder,
			Filename: fn, URL: m.URL, Size: ParseSize(m.Size), File: file})
	}
}

func (r *refIndex) patternRepos(t string) []string {
	var out []string
	for _, p := range r.patterns {
		if p.re.MatchString(t) {
			out = append(out, p.repo)
		}
	}
	return out
}

func (r *refIndex) title(repo string) string {
	if t := r.nodeTitle[repo]; t != "" {
		return t
	}
	return r.listTitle[repo]
}
