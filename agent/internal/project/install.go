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
	"github.com/comfylauncher/launcher/agent/internal/atomicfile"
)

// installer runs the steps of the install pipeline. Every step is idempotent: it compares
// a marker (a fingerprint of its inputs) and redoes only what is missing, so a resumed or
// retried operation continues where it stopped.
type installer struct {
	recs     *records
	states   *states
	progress *progressBoard
	logs     *logBook
	layout   layout
	sh       shell
	venvs    venvs
	files    files
	// repo and ref are where ComfyUI is cloned from, and which ref.
	repo, ref string
}

// stageRange is where each stage sits on the overall 0-100 progress bar.
var stageRange = map[string][2]float64{
	stepDownloadComfyUI:    {0, 20},
	stepInstallComfyUI:     {20, 50},
	stepInstallCustomNodes: {50, 75},
	stepDownloadFiles:      {75, 100},
}

// stageProgress publishes progress within a stage: frac is 0..1 of that stage.
func (in *installer) stageProgress(id, stage string, frac float64, pr Progress) {
	r := stageRange[stage]
	pr.Stage = stage
	pr.Progress = r[0] + (r[1]-r[0])*min(max(frac, 0), 1)
	in.progress.set(id, pr)
}

// beginStep loads the project and moves it to the step's state.
func (in *installer) beginStep(id, step string) (Project, error) {
	p, err := in.states.set(id, State(step))
	if err != nil {
		return p, err
	}
	in.stageProgress(id, step, 0, Progress{})
	in.logs.Add(id, LevelInfo, "step "+step, map[string]any{"step": step})
	return p, in.layout.ensure(id)
}

// fingerprint hashes the inputs of a piece of work for its marker.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// comfyRef is the commit of the launcher JSON snapshot, else the configured ref.
func (in *installer) comfyRef(lj *launcherJSON) string {
	if lj.Snapshot.ComfyUI != nil && *lj.Snapshot.ComfyUI != "" {
		return *lj.Snapshot.ComfyUI
	}
	return in.ref
}

// downloadComfyUI clones ComfyUI at the launcher JSON's commit (else the configured ref).
func (in *installer) downloadComfyUI(ctx context.Context, id string) error {
	p, err := in.beginStep(id, stepDownloadComfyUI)
	if err != nil {
		return stepErr(stepDownloadComfyUI, classDisk, err)
	}
	lj, err := parseLauncherJSON(p.LauncherJSON)
	if err != nil {
		return stepErr(stepDownloadComfyUI, classConfig, err)
	}
	ref := in.comfyRef(lj)
	fp := fingerprint(in.repo, ref)
	dir := in.layout.comfyUI(id)
	if in.layout.markerOK(id, "comfyui", fp) && isGitRepo(ctx, dir) {
		in.logs.Add(id, LevelInfo, "ComfyUI checkout already at "+ref, nil)
		return nil
	}
	if err := in.sh.clone(ctx, id, in.repo, ref, dir, false); err != nil {
		return stepErr(stepDownloadComfyUI, classNetwork, err)
	}
	in.stageProgress(id, stepDownloadComfyUI, 1, Progress{})
	return stepErr(stepDownloadComfyUI, classDisk, in.layout.setMarker(id, "comfyui", fp))
}

// installComfyUI creates the venv and installs ComfyUI's requirements into it.
func (in *installer) installComfyUI(ctx context.Context, id string) error {
	if _, err := in.beginStep(id, stepInstallComfyUI); err != nil {
		return stepErr(stepInstallComfyUI, classDisk, err)
	}
	if err := in.venvs.ensure(ctx, id); err != nil {
		return err
	}
	in.stageProgress(id, stepInstallComfyUI, 0.3, Progress{})
	comfy := in.layout.comfyUI(id)
	req := filepath.Join(comfy, "requirements.txt")
	data, err := os.ReadFile(req)
	if errors.Is(err, os.ErrNotExist) {
		in.logs.Add(id, LevelWarning, "ComfyUI has no requirements.txt: nothing to install", nil)
		return nil
	}
	if err != nil {
		return stepErr(stepInstallComfyUI, classDisk, err)
	}
	fp := fingerprint(string(data), in.venvs.pipKey(id))
	if in.layout.markerOK(id, "requirements", fp) {
		return nil
	}
	if err := in.venvs.pipInstall(ctx, id, comfy, req); err != nil {
		return stepErr(stepInstallComfyUI, classDependency, err)
	}
	in.stageProgress(id, stepInstallComfyUI, 1, Progress{})
	return stepErr(stepInstallComfyUI, classDisk, in.layout.setMarker(id, "requirements", fp))
}

// skippedNodes are custom nodes the original launcher bundled for its own cloud service.
var skippedNodes = map[string]bool{"ComfyUI-ComfyWorkflows": true}

// installCustomNodes clones each enabled custom node of the snapshot at its hash, installs
// its requirements, then the launcher JSON's pip_requirements.
func (in *installer) installCustomNodes(ctx context.Context, id string) error {
	p, err := in.beginStep(id, stepInstallCustomNodes)
	if err != nil {
		return stepErr(stepInstallCustomNodes, classDisk, err)
	}
	lj, err := parseLauncherJSON(p.LauncherJSON)
	if err != nil {
		return stepErr(stepInstallCustomNodes, classConfig, err)
	}
	var urls []string
	for url, ref := range lj.Snapshot.GitCustomNodes {
		if !ref.Disabled && !skippedNodes[nodeDirName(url)] {
			urls = append(urls, url)
		}
	}
	sort.Strings(urls)
	nodesDir := filepath.Join(in.layout.dir(id), "comfyui", "custom_nodes")
	if err := os.MkdirAll(nodesDir, 0o755); err != nil {
		return stepErr(stepInstallCustomNodes, classDisk, err)
	}
	for i, url := range urls {
		name := nodeDirName(url)
		hash := ""
		if h := lj.Snapshot.GitCustomNodes[url].Hash; h != nil {
			hash = *h
		}
		in.stageProgress(id, stepInstallCustomNodes, float64(i)/float64(len(urls)+1),
			Progress{CurrentFile: name, Current: i + 1, Total: len(urls)})
		fp := fingerprint(url, hash, in.venvs.pipKey(id))
		if in.layout.markerOK(id, "node-"+name, fp) {
			continue
		}
		if err := in.installNode(ctx, id, url, hash, filepath.Join(nodesDir, name)); err != nil {
			return stepErr(stepInstallCustomNodes, classDependency, fmt.Errorf("custom node %s: %w", url, err))
		}
		if err := in.layout.setMarker(id, "node-"+name, fp); err != nil {
			return stepErr(stepInstallCustomNodes, classDisk, err)
		}
	}
	if lines := pipRequirementLines(lj.PipRequirements); len(lines) > 0 {
		content := strings.Join(lines, "\n") + "\n"
		fp := fingerprint(content, in.venvs.pipKey(id))
		if !in.layout.markerOK(id, "pip-requirements", fp) {
			req := filepath.Join(in.layout.dir(id), "requirements.txt")
			if err := os.WriteFile(req, []byte(content), 0o644); err != nil {
				return stepErr(stepInstallCustomNodes, classDisk, err)
			}
			if err := in.venvs.pipInstall(ctx, id, in.layout.dir(id), req); err != nil {
				return stepErr(stepInstallCustomNodes, classDependency, fmt.Errorf("pip_requirements: %w", err))
			}
			if err := in.layout.setMarker(id, "pip-requirements", fp); err != nil {
				return stepErr(stepInstallCustomNodes, classDisk, err)
			}
		}
	}
	in.stageProgress(id, stepInstallCustomNodes, 1, Progress{Current: len(urls), Total: len(urls)})
	return nil
}

// installNode clones one custom node at hash and runs its requirements and install.py as
// the original launcher did.
func (in *installer) installNode(ctx context.Context, id, url, hash, dir string) error {
	if err := in.sh.clone(ctx, id, url, hash, dir, true); err != nil {
		return err
	}
	for _, req := range []string{"requirements.txt", "requirements_post.txt"} {
		if fileExists(filepath.Join(dir, req)) {
			if err := in.venvs.pipInstall(ctx, id, dir, req); err != nil {
				return err
			}
		}
	}
	if fileExists(filepath.Join(dir, "install.py")) {
		if err := in.sh.run(ctx, id, dir, nil, in.layout.venvPython(id), "install.py"); err != nil {
			return err
		}
	}
	return nil
}

// downloadFiles writes extra_model_paths.yaml, puts every file of the launcher JSON in place
// and, when all are there, finishes the install.
func (in *installer) downloadFiles(ctx context.Context, id string) error {
	p, err := in.beginStep(id, stepDownloadFiles)
	if err != nil {
		return stepErr(stepDownloadFiles, classDisk, err)
	}
	if err := atomicfile.Write(in.layout.extraModelPaths(id), in.files.extraModelPathsYAML(), 0o644); err != nil {
		return stepErr(stepDownloadFiles, classDisk, err)
	}
	lj, err := parseLauncherJSON(p.LauncherJSON)
	if err != nil {
		return stepErr(stepDownloadFiles, classConfig, err)
	}
	var missing []string
	for i, alts := range lj.Files {
		if len(alts) == 0 {
			continue
		}
		folder, name, _ := modelPath(alts[0].DestRelativePath)
		file, ensure := folder+"/"+name, in.files.ensureModel
		if rel, ok, _ := inputPath(alts[0].DestRelativePath); ok {
			file, ensure = "input/"+rel, in.files.ensureInput
		}
		in.stageProgress(id, stepDownloadFiles, float64(i)/float64(len(lj.Files)),
			Progress{CurrentFile: file, Current: i + 1, Total: len(lj.Files)})
		if err := ensure(ctx, id, alts); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			in.logs.Add(id, LevelError, fmt.Sprintf("%s: %v", file, err), nil)
			missing = append(missing, file)
		}
	}
	if len(missing) > 0 {
		return &StepError{Step: stepDownloadFiles, Class: classNetwork, Err: apierr.Newf(apierr.Unavailable, "DownloadError",
			"%d file(s) could not be downloaded: %s", len(missing), strings.Join(missing, ", ")).
			Suggest("Check the URLs and credentials (GET /api/get_config) and retry with POST /api/projects/"+id+"/retry",
				"Or place the files in the model store and retry")}
	}
	if err := in.finish(id); err != nil {
		return stepErr(stepDownloadFiles, classDisk, err)
	}
	return nil
}

// finish writes launcher.json next to the checkout and makes the project ready.
func (in *installer) finish(id string) error {
	p, _, err := in.recs.get(id)
	if err != nil {
		return err
	}
	if len(p.LauncherJSON) > 0 {
		if err := atomicfile.Write(filepath.Join(in.layout.dir(id), "launcher.json"), p.LauncherJSON, 0o644); err != nil {
			return err
		}
	}
	in.logs.Add(id, LevelInfo, "install finished", nil)
	in.logs.flush()
	p, err = in.recs.update(id, func(p *Project) {
		p.Installed = true
		p.State = StateReady
		p.StatusMessage = statusMessages[StateReady]
		p.Failure = nil
	})
	if err == nil {
		in.progress.set(id, Progress{Stage: "complete", Progress: 100})
		in.progress.state(p)
	}
	return err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
