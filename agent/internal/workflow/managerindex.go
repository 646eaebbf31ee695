package workflow

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Manager data file names, as in the ComfyUI-Manager repository.
const (
	FileNodeMap    = "extension-node-map.json"
	FileStats      = "github-stats.json"
	FileModelList  = "model-list.json"
	FileCustomList = "custom-node-list.json"
)

// ManagerFiles lists the Manager data files the agent uses.
var ManagerFiles = []string{FileNodeMap, FileStats, FileModelList, FileCustomList}

const coreRepo = "https://github.com/comfyanonymous/ComfyUI"

// ListedModel is a model-list.json entry reduced to what the agent uses.
type ListedModel struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Base     string `json:"base"`
	Folder   string `json:"folder"`
	Filename string `json:"filename"`
	URL      string `json:"url"`
	Size     int64  `json:"size"`
}

type patternPack struct {
	re   *regexp.Regexp
	repo string
}

// ManagerIndex is the Manager data in lookup form. The zero value (or nil) knows only the core
// node types embedded in the binary.
type ManagerIndex struct {
	core      map[string]bool
	typeRepos map[string][]string
	preempt   map[string]string
	patterns  []patternPack
	stars     map[string]int
	titles    map[string]string
	cnr       map[string]string   // lower-case registry id -> repo
	lastSeg   map[string][]string // lower-case last URL segment -> repos
	ownerRepo map[string]string   // lower-case "owner/repo" -> repo
	models    map[string][]ListedModel
	// Present says which files were loaded.
	Present map[string]bool
}

// BuildIndex parses the Manager files given by name (any may be missing). Files that fail to
// parse are skipped and reported in the returned warnings.
func BuildIndex(files map[string][]byte, core map[string]bool) (*ManagerIndex, []string) {
	ix := &ManagerIndex{
		core: map[string]bool{}, typeRepos: map[string][]string{}, preempt: map[string]string{},
		stars: map[string]int{}, titles: map[string]string{}, cnr: map[string]string{},
		lastSeg: map[string][]string{}, ownerRepo: map[string]string{}, models: map[string][]ListedModel{},
		Present: map[string]bool{},
	}
	for k := range core {
		ix.core[k] = true
	}
	var warns []string
	if b := files[FileNodeMap]; b != nil {
		if err := ix.loadNodeMap(b); err != nil {
			warns = append(warns, fmt.Sprintf("manager data %s is unreadable: %v", FileNodeMap, err))
		} else {
			ix.Present[FileNodeMap] = true
		}
	}
	if b := files[FileStats]; b != nil {
		var stats map[string]struct {
			Stars int `json:"stars"`
		}
		if err := json.Unmarshal(b, &stats); err != nil {
			warns = append(warns, fmt.Sprintf("manager data %s is unreadable: %v", FileStats, err))
		} else {
			for repo, s := range stats {
				ix.stars[normRepo(repo)] = s.Stars
			}
			ix.Present[FileStats] = true
		}
	}
	if b := files[FileCustomList]; b != nil {
		if err := ix.loadCustomList(b); err != nil {
			warns = append(warns, fmt.Sprintf("manager data %s is unreadable: %v", FileCustomList, err))
		} else {
			ix.Present[FileCustomList] = true
		}
	}
	if b := files[FileModelList]; b != nil {
		if err := ix.loadModelList(b); err != nil {
			warns = append(warns, fmt.Sprintf("manager data %s is unreadable: %v", FileModelList, err))
		} else {
			ix.Present[FileModelList] = true
		}
	}
	return ix, warns
}

func normRepo(u string) string {
	u = strings.TrimSpace(u)
	u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
	return u
}

func (ix *ManagerIndex) loadNodeMap(b []byte) error {
	var m map[string][]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for repo, entry := range m {
		repo = normRepo(repo)
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
			_ = json.Unmarshal(entry[1], &meta)
		}
		title := meta.TitleAux
		if title == "" {
			title = meta.Title
		}
		ix.titles[repo] = title
		ix.addRepoKeys(repo)
		if repo == coreRepo {
			for _, t := range types {
				ix.core[t] = true
			}
			continue
		}
		for _, t := range types {
			ix.typeRepos[t] = append(ix.typeRepos[t], repo)
		}
		for _, t := range meta.Preemptions {
			if _, taken := ix.preempt[t]; !taken {
				ix.preempt[t] = repo
			}
		}
		if meta.Pattern != "" {
			if re, err := regexp.Compile(meta.Pattern); err == nil {
				ix.patterns = append(ix.patterns, patternPack{re: re, repo: repo})
			}
		}
	}
	sort.Slice(ix.patterns, func(i, j int) bool { return ix.patterns[i].repo < ix.patterns[j].repo })
	for t := range ix.typeRepos {
		sort.Strings(ix.typeRepos[t])
	}
	return nil
}

func (ix *ManagerIndex) addRepoKeys(repo string) {
	segs := strings.Split(strings.TrimSuffix(repo, "/"), "/")
	if len(segs) >= 2 {
		last := strings.ToLower(segs[len(segs)-1])
		if !contains(ix.lastSeg[last], repo) {
			ix.lastSeg[last] = append(ix.lastSeg[last], repo)
		}
		or := strings.ToLower(segs[len(segs)-2] + "/" + segs[len(segs)-1])
		if _, ok := ix.ownerRepo[or]; !ok {
			ix.ownerRepo[or] = repo
		}
	}
}

func (ix *ManagerIndex) loadCustomList(b []byte) error {
	var l struct {
		CustomNodes []struct {
			ID        string   `json:"id"`
			Title     string   `json:"title"`
			Reference string   `json:"reference"`
			Files     []string `json:"files"`
		} `json:"custom_nodes"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	for _, c := range l.CustomNodes {
		repo := ""
		if len(c.Files) > 0 {
			repo = normRepo(c.Files[0])
		}
		if repo == "" {
			repo = normRepo(c.Reference)
		}
		if repo == "" {
			continue
		}
		if c.ID != "" {
			if _, ok := ix.cnr[strings.ToLower(c.ID)]; !ok {
				ix.cnr[strings.ToLower(c.ID)] = repo
			}
		}
		if ix.titles[repo] == "" {
			ix.titles[repo] = c.Title
		}
		ix.addRepoKeys(repo)
		if ref := normRepo(c.Reference); ref != "" && ref != repo {
			ix.addRepoKeys(ref)
		}
	}
	return nil
}

// modelDirByType is ComfyUI-Manager's model_dir_name_map for save_path "default".
var modelDirByType = map[string]string{
	"checkpoint": "checkpoints", "checkpoints": "checkpoints", "unclip": "checkpoints",
	"text_encoders": "text_encoders", "clip": "text_encoders", "vae": "vae", "lora": "loras",
	"t2i-adapter": "controlnet", "t2i-style": "controlnet", "controlnet": "controlnet",
	"clip_vision": "clip_vision", "gligen": "gligen", "upscale": "upscale_models",
	"embedding": "embeddings", "embeddings": "embeddings", "unet": "diffusion_models",
	"diffusion_model": "diffusion_models",
}

func (ix *ManagerIndex) loadModelList(b []byte) error {
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
		return err
	}
	for _, m := range l.Models {
		fn := m.Filename
		if fn == "<huggingface>" || fn == "" {
			fn = urlFilename(m.URL)
		}
		if fn == "" {
			continue
		}
		folder := ""
		if m.SavePath == "default" || m.SavePath == "" {
			folder = modelDirByType[strings.ToLower(m.Type)]
			if folder == "" {
				folder = "etc"
			}
		} else {
			sp := strings.Trim(strings.ReplaceAll(m.SavePath, "\\", "/"), "/")
			first, rest, _ := strings.Cut(sp, "/")
			folder = CanonicalFolder(first)
			if rest != "" && first != "custom_nodes" {
				fn = rest + "/" + fn
			}
		}
		lm := ListedModel{Name: m.Name, Type: m.Type, Base: m.Base, Folder: folder, Filename: fn, URL: m.URL, Size: ParseSize(m.Size)}
		k := strings.ToLower(path.Base(fn))
		ix.models[k] = append(ix.models[k], lm)
	}
	return nil
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

// ListedModels returns the model-list entries for a file name (any subfolder); folder "" matches
// any folder.
func (ix *ManagerIndex) ListedModels(folder, name string) []ListedModel {
	if ix == nil {
		return nil
	}
	var out []ListedModel
	for _, m := range ix.models[strings.ToLower(path.Base(NormalizeName(name)))] {
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
func (ix *ManagerIndex) IsCore(t string) bool { return ix != nil && ix.core[t] }

// Title is the Manager's title for a pack.
func (ix *ManagerIndex) Title(repo string) string {
	if ix == nil {
		return ""
	}
	return ix.titles[repo]
}
