package project

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/gpu"
)

// CreateRequest creates a project. LauncherJSON wins over Template; neither means plain
// ComfyUI.
type CreateRequest struct {
	ID           string
	Name         string
	Template     string
	LauncherJSON json.RawMessage
	Port         int
	GPU          gpu.Preference
	Restart      string
	LaunchArgs   []string
	Env          map[string]string
	Desired      string
}

var slugStrip = regexp.MustCompile(`[^\w\s-]`)
var slugDash = regexp.MustCompile(`[-\s]+`)

// Slugify makes a project id from a name as Django's slugify did for the original launcher:
// ASCII-fold, lowercase, drop what is not a word character, space or dash, and join with "-".
func Slugify(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 0x80 {
			b.WriteRune(r)
		} else if f, ok := asciiFold[r]; ok {
			b.WriteString(f)
		}
	}
	s := strings.ToLower(slugStrip.ReplaceAllString(b.String(), ""))
	s = slugDash.ReplaceAllString(strings.TrimSpace(s), "-")
	return strings.Trim(s, "-_")
}

// asciiFold maps the Latin letters with diacritics that names commonly carry to ASCII.
var asciiFold = func() map[rune]string {
	m := map[rune]string{'ß': "ss", 'æ': "ae", 'Æ': "AE", 'ø': "o", 'Ø': "O", 'œ': "oe", 'Œ': "OE", 'ł': "l", 'Ł': "L"}
	for base, letters := range map[string]string{
		"a": "àáâãäåāăą", "A": "ÀÁÂÃÄÅĀĂĄ", "c": "çćĉċč", "C": "ÇĆĈĊČ", "e": "èéêëēĕėęě", "E": "ÈÉÊËĒĔĖĘĚ",
		"i": "ìíîïĩīĭį", "I": "ÌÍÎÏĨĪĬĮ", "n": "ñńņň", "N": "ÑŃŅŇ", "o": "òóôõöōŏő", "O": "ÒÓÔÕÖŌŎŐ",
		"u": "ùúûüũūŭůűų", "U": "ÙÚÛÜŨŪŬŮŰŲ", "y": "ýÿ", "Y": "Ý", "s": "śŝşš", "S": "ŚŜŞŠ", "z": "źżž", "Z": "ŹŻŽ",
	} {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()

var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// creator makes new projects: it validates the request, resolves a template or an import into
// a launcher JSON, records the project and submits its install.
type creator struct {
	recs      *records
	states    *states
	logs      *logBook
	layout    layout
	files     files
	templates templateSet
	install   *installOps
	importer  Importer
	now       func() time.Time
	log       *slog.Logger
	// portMin and portMax name the port range in a refused port's suggestion.
	portMin, portMax int
}

// create records a new project and submits its install.
func (c *creator) create(ctx context.Context, req CreateRequest) (Project, error) {
	if strings.TrimSpace(req.Name) == "" && req.ID == "" {
		return Project{}, apierr.New(apierr.Invalid, "ValidationError", "name is required", "Send {\"name\": \"my project\"}")
	}
	id := req.ID
	if id == "" {
		id = Slugify(req.Name)
	}
	if req.Name == "" {
		req.Name = id
	}
	if !validID.MatchString(id) {
		return Project{}, apierr.Newf(apierr.Invalid, "ValidationError", "name %q gives no usable project id (%q)", req.Name, id).
			Suggest("Use a name with letters or digits, at most 63 characters")
	}
	if req.Port != 0 && (req.Port < 1024 || req.Port > 65535) {
		return Project{}, apierr.Newf(apierr.Invalid, "ValidationError", "port %d is out of range", req.Port).
			Suggest(fmt.Sprintf("Use a port in %d..%d, or omit it to get a free one", c.portMin, c.portMax))
	}
	switch req.Restart {
	case "":
		req.Restart = RestartOnFailure
	case RestartNever, RestartOnFailure, RestartAlways:
	default:
		return Project{}, apierr.Newf(apierr.Invalid, "ValidationError", "restart %q is not never, on-failure or always", req.Restart).
			Suggest("Use \"on-failure\" (the default)")
	}
	if err := validateArgs(req.LaunchArgs); err != nil {
		return Project{}, err
	}
	raw := req.LauncherJSON
	if len(raw) == 0 && req.Template != "" && req.Template != "empty" {
		var err error
		if raw, err = c.templates.load(ctx, req.Template); err != nil {
			return Project{}, err
		}
	}
	lj, err := parseLauncherJSON(raw)
	if err != nil {
		return Project{}, err
	}
	if err := c.files.checkDests(lj); err != nil {
		return Project{}, err
	}
	now := c.now().UTC()
	p := Project{
		ID: id, Name: req.Name, State: StateDownloadComfyUI, StatusMessage: statusMessages[StateDownloadComfyUI],
		FixedPort: req.Port, Template: req.Template, LauncherJSON: raw, GPU: req.GPU, Restart: req.Restart,
		LaunchArgs: req.LaunchArgs, Env: req.Env, Desired: req.Desired, CreatedAt: now, UpdatedAt: now,
	}
	e, err := c.recs.insert(p)
	if err != nil {
		return Project{}, err
	}
	// A folder without a record is a leftover (a record lost with its store, or a delete whose
	// install was still writing): its markers must not vouch for the new project.
	if err := os.RemoveAll(c.layout.dir(id)); err != nil {
		c.log.Warn("remove leftover project folder", "project", id, "err", err)
	}
	c.logs.Add(id, LevelInfo, fmt.Sprintf("project %q created", req.Name), map[string]any{"template": req.Template})
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := c.install.submit(ctx, id); err != nil {
		p, ferr := c.states.fail(id, stepDownloadComfyUI, err, true)
		if ferr != nil {
			return p, fmt.Errorf("submit install: %v; record the failure: %w", err, ferr)
		}
		return p, nil
	}
	p, _, err = c.recs.get(id)
	return p, err
}

// validateArgs refuses launch arguments the agent itself controls.
func validateArgs(args []string) error {
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--port", "--listen", "--extra-model-paths-config":
			return apierr.Newf(apierr.Invalid, "ValidationError", "launch argument %s is set by the agent", name).
				Suggest("Remove it: the agent chooses the port, listens on 127.0.0.1 and writes extra_model_paths.yaml")
		}
	}
	return nil
}

// importProject creates a project from an import (POST /api/import_project): a launcher JSON as it
// is, or a workflow that the importer converts into one (refusing missing models unless the
// request skips their validation). req carries the name and run settings; its template and
// launcher JSON are replaced by the import.
func (c *creator) importProject(ctx context.Context, req CreateRequest, imp ImportRequest) (Project, error) {
	if len(imp.ImportJSON) == 0 || string(imp.ImportJSON) == "null" {
		return Project{}, apierr.New(apierr.Invalid, "ValidationError", "import_json is required",
			"Send the workflow or launcher JSON as the import_json object")
	}
	// The body decoder has checked that import_json is valid JSON; only its kind is left to
	// check here. Decoding 4 MB for that would cost a whole pass (150 ms on a 4 MB workflow).
	if t := bytes.TrimLeft(imp.ImportJSON, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return Project{}, apierr.New(apierr.Invalid, "ValidationError", "import_json must be a JSON object",
			"Send the parsed workflow file, not a string")
	}
	launcher := imp.ImportJSON
	if c.importer != nil {
		// The workflow service validates launcher JSON too and converts workflows.
		var err error
		if launcher, err = c.importer.PrepareImport(ctx, imp); err != nil {
			return Project{}, err
		}
	} else {
		var head struct {
			Format string `json:"format"`
		}
		if err := json.Unmarshal(imp.ImportJSON, &head); err != nil {
			return Project{}, apierr.Wrap(apierr.Invalid, "ValidationError", err, "import_json is not valid JSON: "+err.Error(),
				"Send the parsed workflow file")
		}
		if head.Format != "comfyui_launcher" {
			return Project{}, apierr.New(apierr.Unavailable, "ServiceUnavailableError", "workflow import is not available on this agent",
				"Import a launcher JSON (format \"comfyui_launcher\") instead")
		}
	}
	req.LauncherJSON = launcher
	req.Template = ""
	return c.create(ctx, req)
}
