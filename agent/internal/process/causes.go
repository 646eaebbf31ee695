package process

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	reModule     = regexp.MustCompile(`No module named '([^']+)'`)
	reCannotImp  = regexp.MustCompile(`Cannot import (.+?) module for custom nodes:?\s*(.*)$`)
	reImportFail = regexp.MustCompile(`\(IMPORT FAILED\):?\s*(.+)$`)
)

// pipNames maps import names whose pip package is named differently.
var pipNames = map[string]string{
	"cv2":     "opencv-python",
	"PIL":     "pillow",
	"yaml":    "pyyaml",
	"skimage": "scikit-image",
	"sklearn": "scikit-learn",
	"git":     "gitpython",
	"google":  "protobuf",
}

// classification is the cause of an exit read from its last log lines.
type classification struct {
	Cause       string
	Message     string
	Suggestions []string
}

// classify reads the last lines of a run. Port and CUDA failures win because they are what
// killed the process; between a missing module and a failed custom node import, the one
// logged last wins: a custom node's own ModuleNotFoundError traceback comes before ComfyUI's
// "Cannot import ... module for custom nodes" line about it.
func classify(lines []string, spec Spec) classification {
	var (
		portLine, oomLine        string
		module, node, nodeDetail string
		moduleAt, nodeAt         = -1, -1 // index of the last line naming each
	)
	for i, l := range lines {
		low := strings.ToLower(l)
		switch {
		case strings.Contains(low, "address already in use") || strings.Contains(low, "errno 98"):
			portLine = l
		case strings.Contains(l, "CUDA out of memory") || strings.Contains(l, "OutOfMemoryError"):
			oomLine = l
		}
		if m := reCannotImp.FindStringSubmatch(l); m != nil {
			node, nodeDetail, nodeAt = filepath.Base(strings.TrimSpace(m[1])), m[2], i
			if mm := reModule.FindStringSubmatch(m[2]); mm != nil {
				module = mm[1]
			}
		} else if m := reImportFail.FindStringSubmatch(l); m != nil {
			if node == "" {
				node = filepath.Base(strings.TrimSpace(m[1]))
			}
			nodeAt = i
		} else if mm := reModule.FindStringSubmatch(l); mm != nil && strings.Contains(l, "ModuleNotFoundError") {
			module, moduleAt = mm[1], i
		}
	}
	py := spec.Python
	if py == "" {
		py = "python"
	}
	switch {
	case portLine != "":
		return classification{CausePortInUse, fmt.Sprintf("port %d is already in use", spec.Port), []string{
			fmt.Sprintf("Another process listens on port %d: stop it, or choose another port for this project", spec.Port),
			"Leave the project's port unset to lease a free one from the [ports] range",
		}}
	case oomLine != "":
		return classification{CauseCUDAOOM, "CUDA out of memory: " + strings.TrimSpace(oomLine), []string{
			"Add --lowvram (or --novram) to the project's launch arguments",
			"Stop other projects on the same GPU, or pin this project to a GPU with more free memory",
		}}
	case nodeAt >= 0 && nodeAt >= moduleAt:
		msg := fmt.Sprintf("custom node %s failed to import", node)
		if nodeDetail != "" {
			msg += ": " + nodeDetail
		}
		sugg := []string{}
		if module != "" {
			sugg = append(sugg, fmt.Sprintf("Install the node's missing module in the project's venv: %s -m pip install %s", py, pipName(module)))
		}
		sugg = append(sugg,
			fmt.Sprintf("Install the node's requirements: %s -m pip install -r custom_nodes/%s/requirements.txt", py, node),
			fmt.Sprintf("Remove or update custom_nodes/%s if it does not fit this ComfyUI version", node))
		return classification{CauseCustomNodeImport, msg, sugg}
	case moduleAt >= 0:
		return classification{CauseMissingModule, fmt.Sprintf("Python module %q is missing", module), []string{
			fmt.Sprintf("Install it in the project's venv: %s -m pip install %s", py, pipName(module)),
			"Reinstall the project's requirements (retry the install) if ComfyUI's own dependencies are missing",
		}}
	}
	return classification{CauseUnknown, lastMeaningful(lines), []string{
		"Read the last log lines of the run (GET the project's logs) for the error",
	}}
}

// pipName guesses the pip package of an import name: its top-level package, renamed where
// the two differ.
func pipName(module string) string {
	top, _, _ := strings.Cut(module, ".")
	if n, ok := pipNames[top]; ok {
		return n
	}
	return top
}

// lastMeaningful is the last line that looks like an error, else the last non-empty line.
func lastMeaningful(lines []string) string {
	var lv leveler
	last := ""
	errLine := ""
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		last = t
		if lv.level(l) == LevelError && !strings.HasPrefix(l, " ") {
			errLine = t
		}
	}
	if errLine != "" {
		return errLine
	}
	if last == "" {
		return "the process exited without output"
	}
	return last
}
