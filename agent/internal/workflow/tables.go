package workflow

import (
	"bufio"
	_ "embed"
	"strconv"
	"strings"
)

//go:embed data/loaders.tsv
var loadersTSV string

//go:embed data/folder_hints.tsv
var folderHintsTSV string

//go:embed data/core_nodes.txt
var coreNodesTXT string

// LoaderSlot is one model-naming input of a loader node.
type LoaderSlot struct {
	Input  string
	Index  int
	Folder string
	// Dir: the value names a directory. Auto: the node downloads the file itself. Implicit: the
	// value is a preset from which the pack picks files the workflow does not name.
	Dir, Auto, Implicit bool
}

// LoaderTable maps node class types to their model inputs.
type LoaderTable map[string][]LoaderSlot

// ParseLoaderTable reads the tab-separated table format of data/loaders.tsv.
func ParseLoaderTable(s string) (LoaderTable, error) {
	t := LoaderTable{}
	sc := bufio.NewScanner(strings.NewReader(s))
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimRight(sc.Text(), "\r")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) < 4 {
			return nil, invalid("loader table line %d: want 4 or 5 tab-separated fields, got %d", line, len(f))
		}
		idx, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, invalid("loader table line %d: widget index %q is not a number", line, f[2])
		}
		slot := LoaderSlot{Input: f[1], Index: idx, Folder: f[3]}
		if len(f) > 4 {
			for _, flag := range strings.Split(f[4], ",") {
				switch strings.TrimSpace(flag) {
				case "dir":
					slot.Dir = true
				case "auto":
					slot.Auto = true
				case "implicit":
					slot.Implicit = true
				}
			}
		}
		t[f[0]] = append(t[f[0]], slot)
	}
	return t, sc.Err()
}

type folderHint struct{ substr, folder string }

func parseHints(s string) []folderHint {
	var out []folderHint
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if k, v, ok := strings.Cut(l, "\t"); ok {
			out = append(out, folderHint{strings.ToLower(k), strings.TrimSpace(v)})
		}
	}
	return out
}

func parseLines(s string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, "\r")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out[l] = true
	}
	return out
}

// builtinTables holds the parsed embedded data; parsed once per Registry, not globally.
type builtinTables struct {
	loaders LoaderTable
	hints   []folderHint
	core    map[string]bool
}

func loadBuiltinTables() builtinTables {
	lt, err := ParseLoaderTable(loadersTSV)
	if err != nil {
		// The embedded table is part of the binary and covered by tests.
		panic("workflow: embedded loader table: " + err.Error())
	}
	return builtinTables{loaders: lt, hints: parseHints(folderHintsTSV), core: parseLines(coreNodesTXT)}
}

// guessFolder picks a folder for a model value of an unknown node type.
func (t builtinTables) guessFolder(nodeType string) string {
	lt := strings.ToLower(nodeType)
	for _, h := range t.hints {
		if strings.Contains(lt, h.substr) {
			return h.folder
		}
	}
	return ""
}
