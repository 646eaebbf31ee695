package workflow

import (
	"regexp"
	"sort"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/managerdata"
)

// PackRef is a custom node pack a workflow needs.
type PackRef struct {
	// Repo is the pack's git URL ("" when only its registry id is known).
	Repo  string `json:"repo"`
	Title string `json:"title,omitempty"`
	CnrID string `json:"cnr_id,omitempty"`
	// Version is the node's properties.ver when the workflow records one (a git sha or semver).
	Version string `json:"version,omitempty"`
	// NodeTypes are the node types that need this pack.
	NodeTypes []string `json:"node_types"`
	// ResolvedBy says how: cnr_id, aux_id, preemption, node_map, stars (ranked among
	// Alternatives), pattern, or parser:<id> for an extension parser's claim.
	ResolvedBy   string   `json:"resolved_by"`
	Alternatives []string `json:"alternatives,omitempty"`
	// Inactive marks packs needed only by muted or bypassed nodes.
	Inactive bool `json:"inactive,omitempty"`
}

type resolution struct {
	repo, cnr, by string
	alts          []string
	core          bool
}

var shaRe = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// ResolvePacks maps the graph's node types to packs. It returns the packs (active ones first,
// each with its node types) and the types nothing could resolve.
func ResolvePacks(g *Graph, ix *ManagerIndex, hints []PackHint) (packs []PackRef, unresolved []string) {
	claims := map[string]string{}
	for _, h := range hints {
		if h.NodeType != "" && h.Repo != "" {
			claims[h.NodeType] = managerdata.NormRepo(h.Repo)
		}
	}
	byKey := map[string]*PackRef{}
	var order []string
	unres := map[string]bool{}
	cache := map[[3]string]resolution{}
	for _, n := range g.Nodes {
		if n.Virtual || n.Instance || n.Type == "" {
			continue
		}
		ck := [3]string{n.Type, strings.ToLower(n.CnrID), n.AuxID}
		r, ok := cache[ck]
		if !ok {
			r = resolveType(n, ix, claims)
			cache[ck] = r
		}
		if r.core {
			continue
		}
		if r.repo == "" && r.cnr == "" {
			unres[n.Type] = true
			continue
		}
		key := r.repo
		if key == "" {
			key = "cnr:" + r.cnr
		}
		p, ok := byKey[key]
		if !ok {
			p = &PackRef{Repo: r.repo, CnrID: r.cnr, ResolvedBy: r.by, Alternatives: r.alts, Title: ix.Title(r.repo), Inactive: true}
			byKey[key] = p
			order = append(order, key)
		}
		if !contains(p.NodeTypes, n.Type) {
			p.NodeTypes = append(p.NodeTypes, n.Type)
		}
		if !n.Inactive {
			p.Inactive = false
		}
		if p.Version == "" && n.Ver != "" && shaRe.MatchString(n.Ver) {
			p.Version = n.Ver
		} else if p.Version == "" && n.Ver != "" && r.by == "cnr_id" {
			p.Version = n.Ver
		}
		if p.CnrID == "" && n.CnrID != "" && !strings.EqualFold(n.CnrID, "comfy-core") {
			p.CnrID = n.CnrID
		}
	}
	for _, k := range order {
		p := byKey[k]
		sort.Strings(p.NodeTypes)
		packs = append(packs, *p)
	}
	sort.SliceStable(packs, func(i, j int) bool {
		if packs[i].Inactive != packs[j].Inactive {
			return !packs[i].Inactive
		}
		return packKey(packs[i]) < packKey(packs[j])
	})
	for t := range unres {
		unresolved = append(unresolved, t)
	}
	sort.Strings(unresolved)
	return packs, unresolved
}

func packKey(p PackRef) string {
	if p.Repo != "" {
		return strings.ToLower(p.Repo)
	}
	return "~" + p.CnrID
}

// resolveType follows the Manager's order, with stars ranking instead of "first repo wins":
// core, the node's cnr_id, its aux_id, an extension parser's claim, preemptions, the node map
// (ranked by GitHub stars when several packs list the type), nodename_pattern.
func resolveType(n *Node, ix *ManagerIndex, claims map[string]string) resolution {
	cnr := strings.TrimSpace(n.CnrID)
	if strings.EqualFold(cnr, "comfy-core") || ix.IsCore(n.Type) {
		return resolution{core: true}
	}
	if strings.HasPrefix(n.Type, "workflow>") || strings.HasPrefix(n.Type, "workflow/") {
		return resolution{core: true}
	}
	if cnr != "" && ix != nil {
		if repo := ix.data.RepoOfRegistryID(cnr); repo != "" {
			return resolution{repo: repo, cnr: cnr, by: "cnr_id"}
		}
		if repos := ix.data.ReposNamed(cnr); len(repos) > 0 {
			best := ix.rank(repos)
			return resolution{repo: best[0], cnr: cnr, by: "cnr_id", alts: best[1:]}
		}
	}
	if aux := strings.Trim(strings.TrimSpace(n.AuxID), "/"); aux != "" && strings.Count(aux, "/") == 1 {
		if ix != nil {
			if repo := ix.data.RepoOfOwnerName(aux); repo != "" {
				return resolution{repo: repo, by: "aux_id"}
			}
		}
		return resolution{repo: "https://github.com/" + aux, by: "aux_id"}
	}
	if repo := claims[n.Type]; repo != "" {
		return resolution{repo: repo, by: "parser"}
	}
	if ix != nil {
		if repo := ix.data.Preemptor(n.Type); repo != "" {
			return resolution{repo: repo, cnr: cnr, by: "preemption"}
		}
		// Packs that list the type and packs whose nodename_pattern matches it compete; forks
		// copy node lists, so the most starred candidate is the original more often than the
		// Manager's "first repo wins".
		repos := append([]string(nil), ix.data.ReposOfType(n.Type)...)
		listed := len(repos)
		for _, r := range ix.patternRepos(n.Type) {
			if !contains(repos, r) {
				repos = append(repos, r)
			}
		}
		switch {
		case len(repos) == 1 && listed == 1:
			return resolution{repo: repos[0], cnr: cnr, by: "node_map"}
		case len(repos) == 1:
			return resolution{repo: repos[0], cnr: cnr, by: "pattern"}
		case len(repos) > 1:
			best := ix.rank(repos)
			return resolution{repo: best[0], cnr: cnr, by: "stars", alts: best[1:]}
		}
	}
	if cnr != "" {
		// Known registry id, unknown repository: still a pack, installable by registry id.
		return resolution{cnr: cnr, by: "cnr_id"}
	}
	return resolution{}
}

// rank orders repos by GitHub stars, most first; ties by URL for determinism.
func (ix *ManagerIndex) rank(repos []string) []string {
	out := append([]string(nil), repos...)
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := ix.data.Stars(out[i]), ix.data.Stars(out[j])
		if si != sj {
			return si > sj
		}
		return out[i] < out[j]
	})
	return out
}
