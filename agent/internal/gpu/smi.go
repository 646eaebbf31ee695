package gpu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/gpu/gpupref"
)

// Unknown marks a numeric field nvidia-smi reported as [N/A] or [Not Supported].
const Unknown int64 = -1

// GPU is one device as the provider reports it. Numeric fields are Unknown when the driver
// does not report them (common for utilisation under MIG and for consumer cards).
type GPU struct {
	Index              int
	UUID               string
	Name               string
	MemoryTotalMB      int64
	MemoryUsedMB       int64
	MemoryFreeMB       int64
	UtilizationPercent int64
	TemperatureC       int64
	// MIGMode is "Enabled", "Disabled" or "" when not supported.
	MIGMode string
}

// MIGEnabled reports whether CUDA sees this GPU only through its MIG instances.
func (g GPU) MIGEnabled() bool { return strings.EqualFold(g.MIGMode, "Enabled") }

// ComputeApp is one process holding a CUDA context.
type ComputeApp struct {
	GPUUUID string
	PID     int
	UsedMB  int64
}

// Query arguments. Keep gpuFields in the order parseGPUs expects.
const gpuFields = "index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu,mig.mode.current"

var (
	gpuQueryArgs = []string{"--query-gpu=" + gpuFields, "--format=csv,noheader,nounits"}
	appQueryArgs = []string{"--query-compute-apps=gpu_uuid,pid,used_memory", "--format=csv,noheader,nounits"}
)

// ErrNoNvidiaSMI means the nvidia-smi binary was not found.
var ErrNoNvidiaSMI = errors.New("nvidia-smi not found")

// QueryError is a failed nvidia-smi run: a non-zero exit, a timeout or unparsable output.
type QueryError struct {
	Args     []string
	ExitCode int    // -1 when the process did not exit by itself
	Output   string // first lines of what it printed, trimmed
	Err      error
}

func (e *QueryError) Error() string {
	var b strings.Builder
	b.WriteString("nvidia-smi")
	if e.Output != "" {
		b.WriteString(": ")
		b.WriteString(e.Output)
	}
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, " (exit status %d)", e.ExitCode)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *QueryError) Unwrap() error { return e.Err }

// noDevices is what nvidia-smi prints (exit status 6) when the driver sees no GPU.
const noDevices = "No devices were found"

// isNoDevices reports whether output is nvidia-smi's "no GPU" answer, which is a valid
// empty inventory rather than an error.
func isNoDevices(out []byte) bool {
	return strings.Contains(string(out), noDevices)
}

// parseGPUs parses the output of the --query-gpu command above.
func parseGPUs(out []byte) ([]GPU, error) {
	if isNoDevices(out) {
		return nil, nil
	}
	var gpus []GPU
	for n, line := range lines(out) {
		f := splitCSV(line)
		const want = 9
		if len(f) < want {
			return nil, fmt.Errorf("line %d: %d fields, want %d: %q", n+1, len(f), want, line)
		}
		if len(f) > want { // a name containing commas
			name := strings.Join(f[2:len(f)-6], ", ")
			f = append([]string{f[0], f[1], name}, f[len(f)-6:]...)
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: index %q is not a number", n+1, f[0])
		}
		if !gpupref.IsUUID(f[1]) {
			return nil, fmt.Errorf("line %d: uuid %q does not look like GPU-…", n+1, f[1])
		}
		g := GPU{Index: idx, UUID: f[1], Name: f[2], MIGMode: optString(f[8])}
		nums := []*int64{&g.MemoryTotalMB, &g.MemoryUsedMB, &g.MemoryFreeMB, &g.UtilizationPercent, &g.TemperatureC}
		for i, p := range nums {
			v, err := optInt(f[3+i])
			if err != nil {
				return nil, fmt.Errorf("line %d: field %d: %w", n+1, 4+i, err)
			}
			*p = v
		}
		if g.MemoryFreeMB == Unknown && g.MemoryTotalMB != Unknown && g.MemoryUsedMB != Unknown {
			g.MemoryFreeMB = g.MemoryTotalMB - g.MemoryUsedMB
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}

// parseApps parses the output of the --query-compute-apps command above.
func parseApps(out []byte) ([]ComputeApp, error) {
	if strings.Contains(string(out), "No running") || isNoDevices(out) {
		return nil, nil
	}
	var apps []ComputeApp
	for n, line := range lines(out) {
		f := splitCSV(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: %d fields, want 3: %q", n+1, len(f), line)
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: pid %q is not a number", n+1, f[1])
		}
		used, err := optInt(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: used_memory: %w", n+1, err)
		}
		apps = append(apps, ComputeApp{GPUUUID: f[0], PID: pid, UsedMB: used})
	}
	return apps, nil
}

func lines(out []byte) []string {
	var ls []string
	for _, l := range strings.Split(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// splitCSV splits nvidia-smi's unquoted ", "-separated CSV.
func splitCSV(line string) []string {
	f := strings.Split(line, ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f
}

func isNA(s string) bool {
	return s == "" || strings.HasPrefix(s, "[") || strings.EqualFold(s, "N/A")
}

func optInt(s string) (int64, error) {
	if isNA(s) {
		return Unknown, nil
	}
	// nounits should strip units; tolerate them in case a caller forgot it.
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "MiB"), "%"), "C"))
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(v), nil
	}
	return 0, fmt.Errorf("%q is not a number", s)
}

func optString(s string) string {
	if isNA(s) {
		return ""
	}
	return s
}

// smiRunner runs nvidia-smi. It resolves the binary on every run so installing the driver
// later, or fixing PATH, heals without an agent restart.
type smiRunner struct {
	bin     string // name looked up on PATH, or a path
	timeout time.Duration
}

func (r smiRunner) lookPath() (string, error) {
	bin := r.bin
	if bin == "" {
		bin = "nvidia-smi"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w (looked for %q on PATH): %v", ErrNoNvidiaSMI, bin, err)
	}
	return p, nil
}

func (r smiRunner) run(ctx context.Context, args []string) ([]byte, error) {
	path, err := r.lookPath()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A wedged driver can leave nvidia-smi in uninterruptible sleep; do not wait on its pipes
	// forever after the kill.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	out := stdout.Bytes()
	if err == nil {
		return out, nil
	}
	combined := append(append([]byte{}, out...), stderr.Bytes()...)
	// "No devices were found" comes with exit status 6 but is a valid, empty answer.
	if isNoDevices(combined) {
		return []byte(noDevices), nil
	}
	qe := &QueryError{Args: args, ExitCode: -1, Output: summarize(combined)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		qe.Err = fmt.Errorf("no answer within %s (driver hung?)", r.timeout)
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		qe.ExitCode = ee.ExitCode()
	default:
		qe.Err = err
	}
	return nil, qe
}

// summarize keeps the first two non-empty lines: enough for "Failed to initialize NVML:
// Driver/library version mismatch" plus the version line, short enough for a health message.
func summarize(out []byte) string {
	ls := lines(out)
	if len(ls) > 2 {
		ls = ls[:2]
	}
	s := strings.Join(ls, "; ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
