package project

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// inputPath returns the path under ComfyUI's input/ folder of a launcher file destination
// ("input/example.png" -> "example.png"); ok is false for other destinations. Launcher JSON
// files put example images there.
func inputPath(dest string) (rel string, ok bool, err error) {
	p := path.Clean(strings.ReplaceAll(dest, "\\", "/"))
	if path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		return "", false, fmt.Errorf("dest_relative_path %q escapes the ComfyUI folder", dest)
	}
	p = strings.TrimPrefix(p, "comfyui/")
	rel, ok = strings.CutPrefix(p, "input/")
	if !ok {
		return "", false, nil
	}
	if rel == "" || rel == "." {
		return "", true, fmt.Errorf("dest_relative_path %q names no file", dest)
	}
	return rel, true, nil
}

// checkFileDest accepts models/<folder>/<file> and input/<file>.
func checkFileDest(dest string) error {
	if _, ok, err := inputPath(dest); ok || err != nil {
		return err
	}
	_, _, err := modelPath(dest)
	return err
}

// inputClient fetches input files; they are small (example images), so one bounded request.
var inputClient = &http.Client{Timeout: 5 * time.Minute}

// ensureInput puts one input file into the project's ComfyUI input/ folder, trying each
// alternative. Writes go through os.Root, so no destination (or symlink in the checkout) can
// lead outside the ComfyUI folder.
func (f files) ensureInput(ctx context.Context, id string, alts []fileAlt) error {
	root, err := os.OpenRoot(f.layout.comfyUI(id))
	if err != nil {
		return fmt.Errorf("open the ComfyUI folder: %w", err)
	}
	defer root.Close()
	var errs []error
	for _, a := range alts {
		rel, _, err := inputPath(a.DestRelativePath)
		if err == nil {
			err = fetchInput(ctx, root, path.Join("input", rel), a)
		}
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func fetchInput(ctx context.Context, root *os.Root, name string, a fileAlt) error {
	if st, err := root.Stat(name); err == nil && st.Mode().IsRegular() && (a.SHA256 == "" || rootFileSHA(root, name) == strings.ToLower(a.SHA256)) {
		return nil
	}
	if a.DownloadURL == "" {
		return errors.New("no download URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.DownloadURL, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", a.DownloadURL, err)
	}
	resp, err := inputClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", a.DownloadURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", a.DownloadURL, resp.StatusCode)
	}
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", path.Dir(name), err)
	}
	tmp := name + ".part"
	f, err := root.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && a.SHA256 != "" && hex.EncodeToString(h.Sum(nil)) != strings.ToLower(a.SHA256) {
		err = fmt.Errorf("sha256 mismatch for %s", a.DownloadURL)
	}
	if err != nil {
		root.Remove(tmp)
		return err
	}
	return root.Rename(tmp, name)
}

func rootFileSHA(root *os.Root, name string) string {
	f, err := root.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
