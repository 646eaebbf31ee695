package selftest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/models/download"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// transfer is the one step of every measured operation: the agent's downloader fetching the
// operation's "url" into dir as "<name>.safetensors" (name: the "name" metadata, else the
// operation id), verified against its "sha256", its error classified for the runner the way
// the models service classifies a download.
type transfer struct {
	dir string
	dl  *download.Downloader
	// attemptTimeout bounds one attempt when > 0.
	attemptTimeout time.Duration
	// keep leaves a published file in dir (scenarios check it); measurements remove it, and
	// the disk never fills up over a long run.
	keep bool
}

// newDownloader is a fresh downloader with o (its own host breakers, so a run never trips the
// agent's) with the configured [downloads] host limits and one connection per file.
func newDownloader(lim Downloads, o download.Options) *download.Downloader {
	o.NoReserve, o.MaxConnections = true, 1
	o.Hosts = download.NewHosts(lim.PerHostConnections, lim.BreakerThreshold, lim.BreakerCooldown, nil)
	return download.New(o)
}

// definition registers the transfer as the operation function name; the breaker target is the
// "target" metadata (none when unset).
func (t transfer) definition(name string) recovery.Definition {
	return recovery.Definition{Name: name, Steps: []recovery.Step{{Name: "download", Run: t.run}},
		Target: func(meta map[string]any) string { s, _ := meta["target"].(string); return s }}
}

func (t transfer) run(ctx context.Context, op *recovery.Op) error {
	var url, sum, name string
	if err := op.DecodeMeta("url", &url); err != nil {
		return err
	}
	_ = op.DecodeMeta("sha256", &sum)
	if op.DecodeMeta("name", &name) != nil || name == "" {
		name = op.ID()
	}
	if t.attemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.attemptTimeout)
		defer cancel()
	}
	dest, err := t.fetch(ctx, url, sum, download.OpCheckpointer{Op: op}, name)
	if err == nil && !t.keep {
		_ = os.Remove(dest)
	}
	return err // a failed attempt leaves its partial for the next one to resume
}

// fetch downloads url to the returned path.
func (t transfer) fetch(ctx context.Context, url, sum string, cp download.Checkpointer, name string) (string, error) {
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return "", err
	}
	dest := filepath.Join(t.dir, name+".safetensors")
	if _, err := t.dl.Fetch(ctx, download.Request{URL: url, Dest: dest, Part: dest + ".part", SHA256: sum}, cp, nil); err != nil {
		err = recovery.WithClass(download.ClassOf(err), err)
		if d := download.RetryAfterOf(err); d > 0 {
			err = recovery.WithRetryAfter(d, err)
		}
		return dest, err
	}
	return dest, nil
}

// disk opens the downloader's partial files and fills up on demand: a partial made full fails
// its next writes past a byte with ENOSPC (the *fs.PathError os.File returns on a full
// filesystem), and each partial tells when its first byte is written.
type disk struct {
	mu      sync.Mutex
	full    map[string]fullAt // by partial base name
	started map[string]chan struct{}
	written map[string]bool
}

type fullAt struct {
	offset int64
	writes int // failing writes left
}

func newDisk() *disk {
	return &disk{full: map[string]fullAt{}, started: map[string]chan struct{}{}, written: map[string]bool{}}
}

// fill makes the next writes writes of name's partial past offset fail with ENOSPC.
func (d *disk) fill(name string, offset int64, writes int) {
	d.mu.Lock()
	d.full[name+".safetensors.part"] = fullAt{offset, writes}
	d.mu.Unlock()
}

// firstWrite is closed once name's partial has received its first bytes.
func (d *disk) firstWrite(name string) <-chan struct{} { return d.startedC(name + ".safetensors.part") }

func (d *disk) startedC(part string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.startedLocked(part)
}

func (d *disk) startedLocked(part string) chan struct{} {
	c := d.started[part]
	if c == nil {
		c = make(chan struct{})
		d.started[part] = c
	}
	return c
}

func (d *disk) open(path string) (download.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &diskFile{File: f, d: d, part: filepath.Base(path)}, nil
}

type diskFile struct {
	*os.File
	d    *disk
	part string
}

func (f *diskFile) WriteAt(p []byte, off int64) (int, error) {
	f.d.mu.Lock()
	if !f.d.written[f.part] {
		f.d.written[f.part] = true
		close(f.d.startedLocked(f.part))
	}
	full, ok := f.d.full[f.part]
	room := int64(len(p))
	if ok && full.writes > 0 && off+room > full.offset {
		room = max(0, full.offset-off)
		full.writes--
		f.d.full[f.part] = full
	} else {
		ok = false
	}
	f.d.mu.Unlock()
	if !ok {
		return f.File.WriteAt(p, off)
	}
	n, err := f.File.WriteAt(p[:room], off)
	if err != nil {
		return n, err
	}
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

// fileSHA256 hashes a published file, to check the downloader's verdict independently.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
