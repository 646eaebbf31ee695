package project

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// Step names of the install operation; they equal the project states shown meanwhile.
const (
	stepDownloadComfyUI    = string(StateDownloadComfyUI)
	stepInstallComfyUI     = string(StateInstallComfyUI)
	stepInstallCustomNodes = string(StateInstallCustomNodes)
	stepDownloadFiles      = string(StateDownloadFiles)
	// stepStart and stepRun name failures of starting and of a running process.
	stepStart = "start"
	stepRun   = "run"
)

// Error classes an install step reports: the recovery runner's class names, which key its
// retry policy. ClassDependency is empty: the runner classifies a failed pip or git run from
// its output (a timeout or a DNS failure retries, a missing package does not).
const (
	ClassNetwork    = "network"
	ClassDependency = ""
	ClassConfig     = "not_found"
	ClassDisk       = "resource"
)

// StepError is a failed install step with its error class for the retry policy.
type StepError struct {
	Step  string
	Class string
	Err   error
}

// Error is the underlying error's text.
func (e *StepError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *StepError) Unwrap() error { return e.Err }

func stepErr(step, class string, err error) error {
	if err == nil {
		return nil
	}
	var se *StepError
	if errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, os.ErrPermission) {
		class = "permission"
	}
	return &StepError{Step: step, Class: class, Err: err}
}

// installDefinition is the install_project operation. Every step is idempotent: it compares
// a marker (a fingerprint of its inputs) and redoes only what is missing, so a resumed or
// retried operation continues where it stopped.
func (m *Manager) installDefinition() Definition {
	return Definition{
		Name:        InstallFunction,
		MaxAttempts: m.opts.InstallAttempts,
		Steps: []Step{
			{Name: stepDownloadComfyUI, Run: m.stepDownloadComfyUI},
			{Name: stepInstallComfyUI, Run: m.stepInstallComfyUI},
			{Name: stepInstallCustomNodes, Run: m.stepInstallCustomNodes},
			{Name: stepDownloadFiles, Run: m.stepDownloadFiles},
		},
		OnTerminal: m.installTerminal,
	}
}

// installTerminal records how the install operation ended. Success makes the project ready;
// anything else is the failed state with the step and error (never a deletion).
func (m *Manager) installTerminal(_ context.Context, projectID, opID, state string, err error) {
	p, _, gerr := m.get(projectID)
	if gerr != nil || p.InstallOp != opID {
		return // deleted, or superseded by a newer install
	}
	switch state {
	case "success":
		m.logs.Add(projectID, LevelInfo, "install finished", nil)
		return // the last step already made the project ready
	case "cancelled":
		if err == nil {
			err = errors.New("install was cancelled")
		}
	}
	if err == nil {
		err = fmt.Errorf("install ended in state %s", state)
	}
	step := string(p.State)
	var se *StepError
	if errors.As(err, &se) {
		step = se.Step
	}
	if !State(step).Installing() {
		step = stepDownloadComfyUI
	}
	_, _ = m.fail(projectID, step, err, true)
}

// stageRange is where each stage sits on the overall 0-100 progress bar.
var stageRange = map[string][2]float64{
	stepDownloadComfyUI:    {0, 20},
	stepInstallComfyUI:     {20, 50},
	stepInstallCustomNodes: {50, 75},
	stepDownloadFiles:      {75, 100},
}

// stageProgress publishes progress within a stage: frac is 0..1 of that stage.
func (m *Manager) stageProgress(id, stage string, frac float64, pr Progress) {
	r := stageRange[stage]
	pr.Stage = stage
	pr.Progress = r[0] + (r[1]-r[0])*min(max(frac, 0), 1)
	m.setProgress(id, pr)
}

// beginStep loads the project and moves it to the step's state.
func (m *Manager) beginStep(id, step string) (Project, error) {
	p, err := m.setState(id, State(step))
	if err != nil {
		return p, err
	}
	m.stageProgress(id, step, 0, Progress{})
	m.logs.Add(id, LevelInfo, "step "+step, map[string]any{"step": step})
	return p, m.ensureDir(id)
}

// marker files record that a piece of work finished with given inputs.
func (m *Manager) markerPath(id, name string) string {
	return filepath.Join(m.projectDir(id), ".launcher", "steps", name)
}

func (m *Manager) markerOK(id, name, fingerprint string) bool {
	b, err := os.ReadFile(m.markerPath(id, name))
	return err == nil && string(b) == fingerprint
}

func (m *Manager) setMarker(id, name, fingerprint string) error {
	p := m.markerPath(id, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(p, []byte(fingerprint))
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// comfyRef is the commit of the launcher JSON snapshot, else the configured ref.
func (m *Manager) comfyRef(lj *launcherJSON) string {
	if lj.Snapshot.ComfyUI != nil && *lj.Snapshot.ComfyUI != "" {
		return *lj.Snapshot.ComfyUI
	}
	return m.opts.Ref
}

func (m *Manager) stepDownloadComfyUI(ctx context.Context, id string) error {
	p, err := m.beginStep(id, stepDownloadComfyUI)
	if err != nil {
		return stepErr(stepDownloadComfyUI, ClassDisk, err)
	}
	lj, err := parseLauncherJSON(p.LauncherJSON)
	if err != nil {
		return stepErr(stepDownloadComfyUI, ClassConfig, err)
	}
	ref := m.comfyRef(lj)
	fp := fingerprint(m.opts.Repo, ref)
	dir := filepath.Join(m.projectDir(id), "comfyui")
	if m.markerOK(id, "comfyui", fp) && isGitRepo(ctx, dir) {
		m.logs.Add(id, LevelInfo, "ComfyUI checkout already at "+ref, nil)
		return nil
	}
	if err := m.cloneAt(ctx, id, m.opts.Repo, ref, dir, false); err != nil {
		return stepErr(stepDownloadComfyUI, ClassNetwork, err)
	}
	m.stageProgress(id, stepDownloadComfyUI, 1, Progress{})
	return stepErr(stepDownloadComfyUI, ClassDisk, m.setMarker(id, "comfyui", fp))
}

// cloneAt makes dir a checkout of repo at ref. A leftover folder that is not a clone of repo
// (an interrupted clone) is removed first; clones go to a temporary folder renamed into place
// so a half-cloned tree is never mistaken for a complete one.
func (m *Manager) cloneAt(ctx context.Context, id, repo, ref, dir string, recursive bool) error {
	if isGitRepo(ctx, dir) {
		origin, _ := gitOutput(ctx, dir, "config", "--get", "remote.origin.url")
		if origin != repo {
			m.logs.Add(id, LevelWarning, fmt.Sprintf("%s is a clone of %q, not %q: cloning again", filepath.Base(dir), origin, repo), nil)
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	} else if _, err := os.Stat(dir); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if !isGitRepo(ctx, dir) {
		tmp := dir + ".partial"
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		args := []string{"clone"}
		if recursive {
			args = append(args, "--recursive")
		}
		args = append(args, "--", repo, tmp)
		if err := m.runCmd(ctx, id, filepath.Dir(dir), nil, "git", args...); err != nil {
			return err
		}
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
	}
	if ref == "" {
		return nil
	}
	if err := m.runCmd(ctx, id, dir, nil, "git", "checkout", "--quiet", ref, "--"); err != nil {
		// The ref may be newer than the clone (a resumed install): fetch and try again.
		if ferr := m.runCmd(ctx, id, dir, nil, "git", "fetch", "--tags", "origin"); ferr != nil {
			return err
		}
		if err := m.runCmd(ctx, id, dir, nil, "git", "checkout", "--quiet", ref, "--"); err != nil {
			return err
		}
	}
	if recursive {
		return m.runCmd(ctx, id, dir, nil, "git", "submodule", "update", "--init", "--recursive")
	}
	return nil
}

func isGitRepo(ctx context.Context, dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		return false
	}
	top, err := gitOutput(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return false
	}
	a, _ := filepath.EvalSymlinks(top)
	b, _ := filepath.EvalSymlinks(dir)
	return a == b
}

func (m *Manager) venvPython(id string) string {
	return filepath.Join(m.projectDir(id), "venv", "bin", "python")
}

// pipKey is the part of a pip marker that says into which venv, with which arguments.
func (m *Manager) pipKey(id string) string {
	venvID, _ := os.ReadFile(filepath.Join(m.projectDir(id), "venv", ".launcher-venv-id"))
	return string(venvID) + "\x00" + strings.Join(m.opts.PipArgs, "\x00")
}

func (m *Manager) pipInstall(ctx context.Context, id, dir, reqFile string) error {
	args := []string{"-m", "pip", "--disable-pip-version-check", "--no-input", "install", "-r", reqFile}
	args = append(args, m.opts.PipArgs...)
	return m.runCmd(ctx, id, dir, nil, m.venvPython(id), args...)
}

func (m *Manager) stepInstallComfyUI(ctx context.Context, id string) error {
	if _, err := m.beginStep(id, stepInstallComfyUI); err != nil {
		return stepErr(stepInstallComfyUI, ClassDisk, err)
	}
	venv := filepath.Join(m.projectDir(id), "venv")
	if fp := fingerprint(m.opts.Python); !m.markerOK(id, "venv", fp) || !fileExists(m.venvPython(id)) {
		if err := os.RemoveAll(venv); err != nil {
			return stepErr(stepInstallComfyUI, ClassDisk, err)
		}
		if err := m.runCmd(ctx, id, m.projectDir(id), nil, m.opts.Python, "-m", "venv", venv); err != nil {
			return stepErr(stepInstallComfyUI, ClassDependency, err)
		}
		// A new venv id invalidates every pip marker made for an earlier venv.
		if err := writeFileAtomic(filepath.Join(venv, ".launcher-venv-id"), []byte(newOpID())); err != nil {
			return stepErr(stepInstallComfyUI, ClassDisk, err)
		}
		if err := m.setMarker(id, "venv", fp); err != nil {
			return stepErr(stepInstallComfyUI, ClassDisk, err)
		}
	}
	m.stageProgress(id, stepInstallComfyUI, 0.3, Progress{})
	comfy := filepath.Join(m.projectDir(id), "comfyui")
	req := filepath.Join(comfy, "requirements.txt")
	data, err := os.ReadFile(req)
	if errors.Is(err, os.ErrNotExist) {
		m.logs.Add(id, LevelWarning, "ComfyUI has no requirements.txt: nothing to install", nil)
		return nil
	}
	if err != nil {
		return stepErr(stepInstallComfyUI, ClassDisk, err)
	}
	fp := fingerprint(string(data), m.pipKey(id))
	if m.markerOK(id, "requirements", fp) {
		return nil
	}
	if err := m.pipInstall(ctx, id, comfy, req); err != nil {
		return stepErr(stepInstallComfyUI, ClassDependency, err)
	}
	m.stageProgress(id, stepInstallComfyUI, 1, Progress{})
	return stepErr(stepInstallComfyUI, ClassDisk, m.setMarker(id, "requirements", fp))
}

// skippedNodes are custom nodes the original launcher bundled for its own cloud service.
var skippedNodes = map[string]bool{"ComfyUI-ComfyWorkflows": true}

func (m *Manager) stepInstallCustomNodes(ctx context.Context, id string) error {
	p, err := m.beginStep(id, stepInstallCustomNodes)
	if err != nil {
		return stepErr(stepInstallCustomNodes, ClassDisk, err)
	}
	lj, err := parseLauncherJSON(p.LauncherJSON)
	if err != nil {
		return stepErr(stepInstallCustomNodes, ClassConfig, err)
	}
	var urls []string
	for url, ref := range lj.Snapshot.GitCustomNodes {
		if !ref.Disabled && !skippedNodes[nodeDirName(url)] {
			urls = append(urls, url)
		}
	}
	sort.Strings(urls)
	nodesDir := filepath.Join(m.projectDir(id), "comfyui", "custom_nodes")
	if err := os.MkdirAll(nodesDir, 0o755); err != nil {
		return stepErr(stepInstallCustomNodes, ClassDisk, err)
	}
	for i, url := range urls {
		name := nodeDirName(url)
		hash := ""
		if h := lj.Snapshot.GitCustomNodes[url].Hash; h != nil {
			hash = *h
		}
		m.stageProgress(id, stepInstallCustomNodes, float64(i)/float64(len(urls)+1),
			Progress{CurrentFile: name, Current: i + 1, Total: len(urls)})
		fp := fingerprint(url, hash, m.pipKey(id))
		if m.markerOK(id, "node-"+name, fp) {
			continue
		}
		if err := m.installNode(ctx, id, url, hash, filepath.Join(nodesDir, name)); err != nil {
			return stepErr(stepInstallCustomNodes, ClassDependency, fmt.Errorf("custom node %s: %w", url, err))
		}
		if err := m.setMarker(id, "node-"+name, fp); err != nil {
			return stepErr(stepInstallCustomNodes, ClassDisk, err)
		}
	}
	if lines := pipRequirementLines(lj.PipRequirements); len(lines) > 0 {
		content := strings.Join(lines, "\n") + "\n"
		fp := fingerprint(content, m.pipKey(id))
		if !m.markerOK(id, "pip-requirements", fp) {
			req := filepath.Join(m.projectDir(id), "requirements.txt")
			if err := os.WriteFile(req, []byte(content), 0o644); err != nil {
				return stepErr(stepInstallCustomNodes, ClassDisk, err)
			}
			if err := m.pipInstall(ctx, id, m.projectDir(id), req); err != nil {
				return stepErr(stepInstallCustomNodes, ClassDependency, fmt.Errorf("pip_requirements: %w", err))
			}
			if err := m.setMarker(id, "pip-requirements", fp); err != nil {
				return stepErr(stepInstallCustomNodes, ClassDisk, err)
			}
		}
	}
	m.stageProgress(id, stepInstallCustomNodes, 1, Progress{Current: len(urls), Total: len(urls)})
	return nil
}

// installNode clones one custom node at hash and runs its requirements and install.py as
// the original launcher did.
func (m *Manager) installNode(ctx context.Context, id, url, hash, dir string) error {
	if err := m.cloneAt(ctx, id, url, hash, dir, true); err != nil {
		return err
	}
	for _, req := range []string{"requirements.txt", "requirements_post.txt"} {
		if fileExists(filepath.Join(dir, req)) {
			if err := m.pipInstall(ctx, id, dir, req); err != nil {
				return err
			}
		}
	}
	if fileExists(filepath.Join(dir, "install.py")) {
		if err := m.runCmd(ctx, id, dir, nil, m.venvPython(id), "install.py"); err != nil {
			return err
		}
	}
	return nil
}

// extraModelPaths is the file ComfyUI gets with --extra-model-paths-config.
func (m *Manager) extraModelPaths(id string) string {
	return filepath.Join(m.projectDir(id), "extra_model_paths.yaml")
}

// defaultExtraModelPaths points ComfyUI at the shared store when no model store is wired.
func defaultExtraModelPaths(modelsDir string) []byte {
	folders := []string{"checkpoints", "clip", "clip_vision", "configs", "controlnet", "diffusion_models",
		"embeddings", "gligen", "hypernetworks", "loras", "photomaker", "style_models", "text_encoders",
		"unet", "upscale_models", "vae", "vae_approx"}
	var b strings.Builder
	fmt.Fprintf(&b, "launcher:\n  base_path: %q\n", modelsDir)
	for _, f := range folders {
		fmt.Fprintf(&b, "  %s: %s/\n", f, f)
	}
	return []byte(b.String())
}

func (m *Manager) stepDownloadFiles(ctx context.Context, id string) error {
	p, err := m.beginStep(id, stepDownloadFiles)
	if err != nil {
		return stepErr(stepDownloadFiles, ClassDisk, err)
	}
	yaml := defaultExtraModelPaths(m.opts.ModelsDir)
	if m.deps.Models != nil {
		yaml = m.deps.Models.ExtraModelPathsYAML()
	}
	if err := writeFileAtomic(m.extraModelPaths(id), yaml); err != nil {
		return stepErr(stepDownloadFiles, ClassDisk, err)
	}
	lj, err := parseLauncherJSON(p.LauncherJSON)
	if err != nil {
		return stepErr(stepDownloadFiles, ClassConfig, err)
	}
	var missing []string
	for i, alts := range lj.Files {
		if len(alts) == 0 {
			continue
		}
		folder, name, _ := modelPath(alts[0].DestRelativePath)
		file, ensure := folder+"/"+name, m.ensureFile
		if rel, ok, _ := inputPath(alts[0].DestRelativePath); ok {
			file, ensure = "input/"+rel, m.ensureInput
		}
		m.stageProgress(id, stepDownloadFiles, float64(i)/float64(len(lj.Files)),
			Progress{CurrentFile: file, Current: i + 1, Total: len(lj.Files)})
		if err := ensure(ctx, id, alts); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.logs.Add(id, LevelError, fmt.Sprintf("%s: %v", file, err), nil)
			missing = append(missing, file)
		}
	}
	if len(missing) > 0 {
		return &StepError{Step: stepDownloadFiles, Class: ClassNetwork, Err: apierr.Newf(apierr.Unavailable, "DownloadError",
			"%d file(s) could not be downloaded: %s", len(missing), strings.Join(missing, ", ")).
			Suggest("Check the URLs and credentials (GET /api/get_config) and retry with POST /api/projects/"+id+"/retry",
				"Or place the files in the model store and retry")}
	}
	if err := m.finishInstall(id); err != nil {
		return stepErr(stepDownloadFiles, ClassDisk, err)
	}
	return nil
}

// ensureFile tries each alternative of one file in order.
func (m *Manager) ensureFile(ctx context.Context, id string, alts []fileAlt) error {
	var errs []error
	for _, a := range alts {
		folder, name, err := modelPath(a.DestRelativePath)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.deps.Models == nil {
			if fileExists(filepath.Join(m.opts.ModelsDir, folder, name)) {
				return nil
			}
			errs = append(errs, errors.New("not in the model store and no downloader is configured"))
			continue
		}
		if a.DownloadURL == "" {
			errs = append(errs, errors.New("no download URL"))
			continue
		}
		err = m.deps.Models.EnsureFile(ctx, FileRequest{URL: a.DownloadURL, Folder: folder, Filename: name, SHA256: a.SHA256, ProjectID: id})
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a.DownloadURL, err))
	}
	return errors.Join(errs...)
}

// finishInstall writes launcher.json next to the checkout and makes the project ready.
func (m *Manager) finishInstall(id string) error {
	p, _, err := m.get(id)
	if err != nil {
		return err
	}
	if len(p.LauncherJSON) > 0 {
		if err := writeFileAtomic(filepath.Join(m.projectDir(id), "launcher.json"), p.LauncherJSON); err != nil {
			return err
		}
	}
	p, err = m.update(id, func(p *Project) {
		p.Installed = true
		p.State = StateReady
		p.StatusMessage = statusMessages[StateReady]
		p.Failure = nil
	})
	if err == nil {
		m.setProgress(id, Progress{Stage: "complete", Progress: 100})
		m.publishState(p)
	}
	return err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// stepSuggestions are what to do when a step fails.
func stepSuggestions(step, id string, o Options) []string {
	logs := fmt.Sprintf("Read the log: GET /api/logs/%s?level=error", id)
	retry := fmt.Sprintf("Retry with POST /api/projects/%s/retry", id)
	switch step {
	case stepDownloadComfyUI:
		return []string{fmt.Sprintf("Check that comfyui.repo (%s) is reachable from this machine and that the ref exists", o.Repo), logs, retry}
	case stepInstallComfyUI:
		return []string{fmt.Sprintf("Check that comfyui.python (%s) is Python 3.10+ with the venv module (Debian/Ubuntu: apt install python3-venv)", o.Python),
			"Set comfyui.pip_args, e.g. [\"--index-url\", \"https://download.pytorch.org/whl/cu124\"] for your CUDA build", logs, retry}
	case stepInstallCustomNodes:
		return []string{"A custom node failed to clone or install; the log names it", logs, retry}
	case stepDownloadFiles:
		return []string{logs, retry}
	case stepStart, stepRun:
		return []string{logs, fmt.Sprintf("Start it again with POST /api/projects/%s/start", id)}
	}
	return []string{logs}
}
