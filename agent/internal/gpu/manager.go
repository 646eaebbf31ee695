package gpu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Clock is the time source; tests inject a fixed one.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options configure a Manager. Zero values get the defaults noted on each field.
type Options struct {
	// Provider is auto (default), nvidia-smi, fake or none.
	Provider string
	// NvidiaSMI is the binary name looked up on PATH, or a path; default "nvidia-smi".
	NvidiaSMI string
	// Fake is the inventory of the fake provider.
	Fake []FakeGPU
	// ReserveMB is headroom per GPU never handed to projects (driver, display, fragmentation);
	// default 512. Negative means 0.
	ReserveMB int64
	// DefaultEstimateMB is reserved for a project whose workflow gave no estimate and that
	// was never measured; default 4096.
	DefaultEstimateMB int64
	// RefreshInterval is how long an inventory is reused by reads (GET /api/gpus, Usage) and
	// how often Run refreshes; default 5s. Place always queries afresh.
	RefreshInterval time.Duration
	// QueryTimeout bounds one nvidia-smi run; default 10s.
	QueryTimeout time.Duration
	Clock        Clock
	Logger       *slog.Logger
	// PGIDOf maps a pid to its process group; default reads /proc/<pid>/stat.
	PGIDOf func(pid int) (int, error)
	// Store keeps measured peaks across restarts; nil keeps them in memory only.
	Store PeakStore
	// provider overrides the provider built from Provider (tests).
	provider Provider
}

// reservation is a project placed on a GPU (or on the CPU when gpu is empty).
type reservation struct {
	gpu string // UUID; "" for CPU
	mb  int64
	at  time.Time
}

// Manager discovers GPUs, places projects and measures their VRAM. Its methods are safe for
// concurrent use.
type Manager struct {
	prov      Provider
	reserveMB int64
	defEstMB  int64
	interval  time.Duration
	clock     Clock
	log       *slog.Logger
	pgidOf    func(int) (int, error)
	store     PeakStore

	placeMu   sync.Mutex // serialises Place so two starts cannot take the same room
	refreshMu sync.Mutex // one nvidia-smi query at a time; waiters reuse its answer

	mu       sync.Mutex
	inv      Inventory
	invErr   error
	invAt    time.Time
	res      map[string]reservation
	pgids    map[string]int              // project -> process group
	used     map[string]map[string]int64 // project -> GPU UUID -> measured MB
	peaks    map[string]int64            // project -> highest measured total MB
	lastWarn string
}

// New builds a Manager. It runs nothing: the first query happens on first use, so a broken
// driver cannot delay agent start. Only a configuration mistake is an error.
func New(opts Options) (*Manager, error) {
	m := &Manager{
		reserveMB: opts.ReserveMB,
		defEstMB:  opts.DefaultEstimateMB,
		interval:  opts.RefreshInterval,
		clock:     opts.Clock,
		log:       opts.Logger,
		pgidOf:    opts.PGIDOf,
		store:     opts.Store,
		res:       map[string]reservation{},
		pgids:     map[string]int{},
		used:      map[string]map[string]int64{},
		peaks:     map[string]int64{},
	}
	if m.reserveMB == 0 {
		m.reserveMB = 512
	} else if m.reserveMB < 0 {
		m.reserveMB = 0
	}
	if m.defEstMB <= 0 {
		m.defEstMB = 4096
	}
	if m.interval <= 0 {
		m.interval = 5 * time.Second
	}
	if m.clock == nil {
		m.clock = realClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m.log = m.log.With("component", "gpu")
	if m.pgidOf == nil {
		m.pgidOf = procPGID
	}
	timeout := opts.QueryTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	runner := smiRunner{bin: opts.NvidiaSMI, timeout: timeout}
	switch {
	case opts.provider != nil:
		m.prov = opts.provider
	case opts.Provider == "" || opts.Provider == ProviderAuto:
		m.prov = &smiProvider{runner: runner, optional: true}
	case opts.Provider == ProviderNvidiaSMI:
		m.prov = &smiProvider{runner: runner}
	case opts.Provider == ProviderFake:
		fp, err := newFakeProvider(opts.Fake)
		if err != nil {
			return nil, err
		}
		m.prov = fp
	case opts.Provider == ProviderNone:
		m.prov = noneProvider{}
	default:
		return nil, fmt.Errorf("gpu provider %q is not one of auto, nvidia-smi, fake, none", opts.Provider)
	}
	m.loadPeaks()
	return m, nil
}

// Refresh queries the provider now and updates measurements. The error is the provider's;
// it is also kept as the health warning.
func (m *Manager) Refresh(ctx context.Context) error {
	_, err := m.inventory(ctx, true)
	return err
}

// Run refreshes every RefreshInterval until ctx ends, so peaks are measured even when nobody
// reads the API.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		_ = m.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// inventory returns the current inventory, querying the provider when forced or when the
// cached one is older than the refresh interval.
func (m *Manager) inventory(ctx context.Context, force bool) (Inventory, error) {
	asked := m.clock.Now()
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	m.mu.Lock()
	fresh := !m.invAt.IsZero() && (m.invAt.After(asked) || (!force && asked.Sub(m.invAt) < m.interval))
	if fresh {
		inv, err := m.inv, m.invErr
		m.mu.Unlock()
		return inv, err
	}
	m.mu.Unlock()

	inv, err := m.prov.Query(ctx)
	if err != nil && ctx.Err() != nil {
		// The caller gave up; that says nothing about the driver, so keep the last state.
		return inv, err
	}
	var changed map[string]int64
	defer func() { m.savePeaks(changed) }() // runs after m.mu is released
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inv, m.invErr, m.invAt = inv, err, m.clock.Now()
	if err == nil {
		changed = m.measureLocked(inv.Apps)
	}
	if w := m.warningLocked(); w != m.lastWarn {
		if w != "" {
			m.log.Warn("gpu health", "warning", w)
		} else {
			m.log.Info("gpu health recovered")
		}
		m.lastWarn = w
	}
	return inv, err
}

// measureLocked attributes compute processes to projects by process group and raises
// peaks, returning the peaks that rose.
func (m *Manager) measureLocked(apps []ComputeApp) map[string]int64 {
	m.used = map[string]map[string]int64{}
	if len(m.pgids) == 0 {
		return nil
	}
	byGroup := map[int]string{}
	for p, g := range m.pgids {
		byGroup[g] = p
	}
	for _, a := range apps {
		if a.UsedMB == Unknown {
			continue
		}
		pg, err := m.pgidOf(a.PID)
		if err != nil {
			continue // exited, or another pid namespace
		}
		p, ok := byGroup[pg]
		if !ok {
			continue
		}
		if m.used[p] == nil {
			m.used[p] = map[string]int64{}
		}
		m.used[p][a.GPUUUID] += a.UsedMB
	}
	changed := map[string]int64{}
	for p, per := range m.used {
		var total int64
		for _, mb := range per {
			total += mb
		}
		if total > m.peaks[p] {
			m.peaks[p] = total
			changed[p] = total
		}
	}
	return changed
}

// BindProcess says that the processes of process group pgid belong to projectID, so their
// VRAM counts as the project's. Call it after spawning ComfyUI in its own group.
func (m *Manager) BindProcess(projectID string, pgid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pgids[projectID] = pgid
}

// Usage returns the project's VRAM measured at the last refresh, summed over GPUs. ok is
// false when the project has no bound process or none of its processes holds GPU memory.
func (m *Manager) Usage(projectID string) (usedMB int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	per, ok := m.used[projectID]
	if !ok {
		return 0, false
	}
	for _, mb := range per {
		usedMB += mb
	}
	return usedMB, true
}

// Observe records a VRAM measurement taken elsewhere (e.g. ComfyUI's /system_stats) so the
// next placement of the project reserves at least that much.
func (m *Manager) Observe(projectID string, usedMB int64) {
	m.mu.Lock()
	rose := usedMB > m.peaks[projectID]
	if rose {
		m.peaks[projectID] = usedMB
	}
	m.mu.Unlock()
	if rose {
		m.savePeaks(map[string]int64{projectID: usedMB})
	}
}

// Estimate is what the next placement of projectID reserves for a workflow estimate: the
// larger of the estimate and the project's measured peak, or the default when both are
// unknown.
func (m *Manager) Estimate(projectID string, workflowMB int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.estimateLocked(projectID, workflowMB)
}

func (m *Manager) estimateLocked(projectID string, workflowMB int64) int64 {
	est := max(workflowMB, m.peaks[projectID])
	if est <= 0 {
		est = m.defEstMB
	}
	return est
}

// Peaks returns every project's measured peak, for persisting across agent restarts.
func (m *Manager) Peaks() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.peaks))
	for k, v := range m.peaks {
		out[k] = v
	}
	return out
}

// Health reports whether GPU discovery works. warning explains what is wrong and what to do;
// it is empty when ok. Before the first query it reports ok.
func (m *Manager) Health() (ok bool, warning string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.warningLocked()
	return m.invErr == nil, w
}

func (m *Manager) warningLocked() string {
	if m.invErr != nil {
		return fmt.Sprintf("GPU discovery failed, so projects that need a GPU cannot start: %v. Check the NVIDIA driver with `nvidia-smi` (a driver/library mismatch needs a reboot), or set gpu = \"none\" on a project to run it on the CPU", m.invErr)
	}
	return joinWarnings(m.inv.Warnings)
}

func joinWarnings(ws []string) string {
	out := ""
	for i, w := range ws {
		if i > 0 {
			out += "; "
		}
		out += w
	}
	return out
}

// ProjectGPU is a project's placement and usage, for the project endpoints.
type ProjectGPU struct {
	GPUUUIDs   []string `json:"gpu_uuids"`
	CPU        bool     `json:"cpu"`
	ReservedMB int64    `json:"reserved_mb"`
	// UsedMB is measured from compute processes; null when unknown.
	UsedMB *int64 `json:"used_mb"`
	// PeakMB is the highest use measured; the next placement reserves at least this.
	PeakMB int64 `json:"peak_mb"`
}

// Project returns the project's placement and measured use; ok is false when it is not
// placed and was never measured.
func (m *Manager) Project(projectID string) (ProjectGPU, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, placed := m.res[projectID]
	peak, measured := m.peaks[projectID]
	if !placed && !measured {
		return ProjectGPU{}, false
	}
	pg := ProjectGPU{GPUUUIDs: []string{}, PeakMB: peak}
	if placed {
		pg.ReservedMB = r.mb
		if r.gpu == "" {
			pg.CPU = true
		} else {
			pg.GPUUUIDs = []string{r.gpu}
		}
	}
	if per, ok := m.used[projectID]; ok {
		var t int64
		for _, mb := range per {
			t += mb
		}
		pg.UsedMB = &t
	}
	return pg, true
}

// sortedProjects returns map keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
