package download

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// finish verifies the complete partial (length, sha256) and publishes it atomically.
func (a *attempt) finish(h hashState, size int64) (Result, error) {
	st := a.st
	if st.Size >= 0 && size != st.Size {
		a.discard()
		return Result{}, &Error{Class: recovery.ClassIntegrity, Err: fmt.Errorf("%w: have %d bytes, server said %d", ErrLength, size, st.Size)}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if st.SHA256 != "" && sum != st.SHA256 {
		st.Mismatches++
		mism := st.Mismatches
		if err := a.discard(); err != nil {
			return Result{}, err
		}
		// One mismatch may be a corrupt transfer; two in a row mean the source is not the file.
		return Result{}, &Error{Class: recovery.ClassIntegrity, Permanent: mism >= 2,
			Err: fmt.Errorf("%w: expected %s, got %s (attempt %d; the partial was discarded)", ErrChecksum, st.SHA256, sum, mism)}
	}
	if err := publish(a.f, a.req.Part, a.req.Dest); err != nil {
		return Result{}, err
	}
	return Result{Size: size, SHA256: sum, Validator: st.Validator, LinkedETag: st.LinkedETag,
		LastModified: st.LastModified, FinalURL: st.FinalURL, Restarts: st.Restarts}, nil
}

// publish makes the verified partial visible: fsync, rename into place, fsync the directory.
// The file is closed here; the caller's deferred Close then fails harmlessly.
func publish(f File, part, dest string) error {
	if err := f.Sync(); err != nil {
		return classify(ClassOf(err), false, fmt.Errorf("sync partial: %w", err))
	}
	if err := f.Close(); err != nil {
		return classify(ClassOf(err), false, fmt.Errorf("close partial: %w", err))
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return classify(ClassOf(err), false, fmt.Errorf("create model folder: %w", err))
	}
	if err := os.Chmod(part, 0o644); err != nil {
		return classify(ClassOf(err), false, err)
	}
	if err := os.Rename(part, dest); err != nil {
		return classify(ClassOf(err), false, fmt.Errorf("publish %s: %w", filepath.Base(dest), err))
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return classify(ClassOf(err), false, err)
	}
	return nil
}

// checkSpace refuses to start when the filesystem cannot hold the remaining bytes plus a
// margin (max of the configured bytes and percent), before anything is written.
func (a *attempt) checkSpace(remaining int64) error {
	if remaining <= 0 {
		return nil
	}
	free, total, err := a.d.opt.FreeSpace(filepath.Dir(a.req.Part))
	if err != nil {
		return nil // unknown free space must not block downloads; ENOSPC is still handled
	}
	margin := max(a.d.opt.DiskMarginBytes, int64(float64(total)*a.d.opt.DiskMarginPercent/100))
	if int64(free) < remaining+margin {
		return &Error{Class: recovery.ClassResource, Err: fmt.Errorf("%w: need %d bytes (+%d margin), have %d free on %s; partial kept",
			ErrNoSpace, remaining, margin, free, filepath.Dir(a.req.Part))}
	}
	return nil
}

// reserve allocates the remaining bytes so ENOSPC shows up now, not at 90 %. Best effort: a
// filesystem without fallocate just skips it.
func (a *attempt) reserve(offset, n int64) {
	if a.d.opt.NoReserve || n <= 0 {
		return
	}
	fallocate(a.f, offset, n)
}
