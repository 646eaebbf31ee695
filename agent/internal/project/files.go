package project

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/comfy"
)

// files puts the files of a launcher JSON in place: models through the shared model store,
// input files (example images) into the project's ComfyUI input folder.
type files struct {
	// models is the shared model store; nil means files must already be in modelsDir.
	models    Models
	modelsDir string
	layout    layout
}

// extraModelPathsYAML is the extra_model_paths.yaml that points ComfyUI at the store.
func (f files) extraModelPathsYAML() []byte {
	if f.models != nil {
		return f.models.ExtraModelPathsYAML()
	}
	return comfy.ExtraModelPathsYAML(f.modelsDir, comfy.Folders()) // no model store wired
}

// ensureModel tries each alternative of one model file in order.
func (f files) ensureModel(ctx context.Context, id string, alts []fileAlt) error {
	var errs []error
	for _, a := range alts {
		folder, name, err := modelPath(a.DestRelativePath)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if f.models == nil {
			if fileExists(filepath.Join(f.modelsDir, folder, name)) {
				return nil
			}
			errs = append(errs, errors.New("not in the model store and no downloader is configured"))
			continue
		}
		if a.DownloadURL == "" {
			errs = append(errs, errors.New("no download URL"))
			continue
		}
		err = f.models.EnsureFile(ctx, FileRequest{URL: a.DownloadURL, Folder: folder, Filename: name, SHA256: a.SHA256, ProjectID: id})
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a.DownloadURL, err))
	}
	return errors.Join(errs...)
}

// checkDests asks the model store whether every file of lj may be written where its
// dest_relative_path points, so an import is refused before anything is created.
func (f files) checkDests(lj *launcherJSON) error {
	if f.models == nil {
		return nil
	}
	for i, alts := range lj.Files {
		for j, a := range alts {
			folder, name, err := modelPath(a.DestRelativePath)
			if err != nil {
				continue // parseLauncherJSON already refused it
			}
			if err := f.models.CheckDest(folder, name); err != nil {
				return prefixFiles(i, j, a.DestRelativePath, err)
			}
		}
	}
	return nil
}
