package gpu

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// PlaceRequest asks for room for one project.
type PlaceRequest struct {
	ProjectID string
	Pref      Preference
	// EstimateMB is the workflow's VRAM estimate; 0 when unknown. The reservation is the
	// larger of it and the project's measured peak.
	EstimateMB int64
}

// Placement is where a project runs and what its ComfyUI process needs to know it.
type Placement struct {
	// GPUUUIDs is the GPU the project is pinned to (one; a list for multi-GPU later); empty
	// for the CPU.
	GPUUUIDs []string
	CPU      bool
	// Env is merged into ComfyUI's environment: CUDA_VISIBLE_DEVICES by UUID, or "-1" on the
	// CPU so a stray CUDA call cannot land on a GPU.
	Env map[string]string
	// ExtraArgs are appended to ComfyUI's arguments ("--cpu" on the CPU).
	ExtraArgs []string
	// EstimateMB is the VRAM reserved for the project.
	EstimateMB int64
}

func cpuPlacement() Placement {
	return Placement{CPU: true, GPUUUIDs: []string{}, Env: map[string]string{"CUDA_VISIBLE_DEVICES": "-1"}, ExtraArgs: []string{"--cpu"}}
}

// Place reserves room for a project and says how to start it. A project placed again (a
// restart) first gives up its old reservation. Errors are *apierr.Error: Conflict
// "InsufficientVRAMError" when nothing fits (with which projects to stop and the closest
// GPU), Invalid "UnknownGPUError" for a preference naming a GPU the machine lacks,
// Unavailable "GPUQueryError" when the GPUs cannot be queried.
func (m *Manager) Place(ctx context.Context, req PlaceRequest) (Placement, error) {
	if req.ProjectID == "" {
		return Placement{}, apierr.New(apierr.Invalid, "ValidationError", "gpu placement needs a project id")
	}
	m.placeMu.Lock()
	defer m.placeMu.Unlock()

	if req.Pref.Mode == None {
		m.reserve(req.ProjectID, "", 0)
		return cpuPlacement(), nil
	}
	inv, err := m.inventory(ctx, true)
	if err != nil {
		return Placement{}, apierr.Wrap(apierr.Unavailable, "GPUQueryError", err,
			"cannot place project "+req.ProjectID+" on a GPU: "+err.Error(),
			"Check the NVIDIA driver with `nvidia-smi`; a driver/library version mismatch is fixed by a reboot",
			`Set gpu = "none" on the project to run it on the CPU meanwhile`)
	}
	if req.Pref.Mode == Auto && len(inv.GPUs) == 0 {
		// "auto" on a machine without GPUs means the CPU; the health warning says why.
		m.reserve(req.ProjectID, "", 0)
		return cpuPlacement(), nil
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	// A restart must not count its own previous reservation against itself.
	delete(m.res, req.ProjectID)
	est := m.estimateLocked(req.ProjectID, req.EstimateMB)
	rooms := m.roomsLocked(inv)

	var cands []*room
	if req.Pref.Mode == List {
		cands, err = resolve(req.Pref, rooms, inv)
		if err != nil {
			return Placement{}, err
		}
	} else {
		for _, r := range rooms {
			if r.unusable == "" {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			return Placement{}, noUsableGPU(req.ProjectID, rooms)
		}
		// Most room first: spare VRAM lets ComfyUI keep models resident.
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].availMB > cands[j].availMB })
	}
	for _, c := range cands {
		if c.availMB >= est {
			m.res[req.ProjectID] = reservation{gpu: c.gpu.UUID, mb: est, at: m.clock.Now()}
			m.log.Info("project placed", "project", req.ProjectID, "gpu", c.gpu.UUID, "index", c.gpu.Index, "reserved_mb", est, "room_mb", c.availMB)
			return Placement{
				GPUUUIDs:   []string{c.gpu.UUID},
				Env:        map[string]string{"CUDA_VISIBLE_DEVICES": c.gpu.UUID},
				ExtraArgs:  []string{},
				EstimateMB: est,
			}, nil
		}
	}
	return Placement{}, insufficient(req.ProjectID, est, cands)
}

func (m *Manager) reserve(projectID, gpu string, mb int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res[projectID] = reservation{gpu: gpu, mb: mb, at: m.clock.Now()}
}

// Restore re-records the placement of a project whose ComfyUI survived an agent restart
// and binds its process group. It does no admission check: the process already runs, and
// refusing it would not free its memory.
func (m *Manager) Restore(projectID string, p Placement, pgid int) {
	gpu := ""
	if !p.CPU && len(p.GPUUUIDs) > 0 {
		gpu = p.GPUUUIDs[0]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res[projectID] = reservation{gpu: gpu, mb: p.EstimateMB, at: m.clock.Now()}
	if pgid > 0 {
		m.pgids[projectID] = pgid
	}
}

// Release gives up the project's reservation and forgets its process group. Its measured
// peak is kept for the next placement.
func (m *Manager) Release(projectID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.res, projectID)
	delete(m.pgids, projectID)
	delete(m.used, projectID)
}

// room is one GPU's accounting at placement time.
type room struct {
	gpu       GPU
	foreignMB int64 // used by processes that are not our projects'
	availMB   int64 // what a new project may take
	projects  []projectRoom
	unusable  string // why auto placement skips it; "" when usable
}

type projectRoom struct {
	ID         string
	ReservedMB int64 // max(reservation, measured): what the project is counted for
	UsedMB     int64 // measured; Unknown when not
}

// roomsLocked computes every GPU's room from the inventory, reservations and measurements.
func (m *Manager) roomsLocked(inv Inventory) []*room {
	rooms := make([]*room, 0, len(inv.GPUs))
	for _, g := range inv.GPUs {
		r := &room{gpu: g}
		var ours, counted int64
		for _, p := range sortedKeys(m.res) {
			res := m.res[p]
			used, measured := m.used[p][g.UUID]
			if res.gpu != g.UUID && !measured {
				continue
			}
			pr := projectRoom{ID: p, UsedMB: Unknown}
			if measured {
				pr.UsedMB = used
				ours += used
			}
			if res.gpu == g.UUID {
				pr.ReservedMB = max(res.mb, used)
			} else {
				pr.ReservedMB = used
			}
			counted += pr.ReservedMB
			r.projects = append(r.projects, pr)
		}
		// Measured processes of projects without a reservation (released, still exiting).
		for _, p := range sortedKeys(m.used) {
			if _, placed := m.res[p]; placed {
				continue
			}
			if used, ok := m.used[p][g.UUID]; ok {
				ours += used
				counted += used
				r.projects = append(r.projects, projectRoom{ID: p, ReservedMB: used, UsedMB: used})
			}
		}
		if g.MemoryUsedMB != Unknown {
			r.foreignMB = max(0, g.MemoryUsedMB-ours)
		}
		switch {
		case g.MIGEnabled():
			r.unusable = "MIG is enabled"
		case g.MemoryTotalMB == Unknown:
			r.unusable = "its memory size is not reported"
		default:
			r.availMB = g.MemoryTotalMB - m.reserveMB - r.foreignMB - counted
		}
		rooms = append(rooms, r)
	}
	return rooms
}

// resolve maps a preference list onto GPUs, in the preference's order.
func resolve(p Preference, rooms []*room, inv Inventory) ([]*room, error) {
	var out []*room
	for _, d := range p.Devices {
		var hit *room
		for _, r := range rooms {
			if (d.UUID != "" && strings.EqualFold(d.UUID, r.gpu.UUID)) || (d.UUID == "" && d.Index == r.gpu.Index) {
				hit = r
				break
			}
		}
		if hit == nil {
			return nil, unknownGPU(d, rooms, inv)
		}
		if hit.unusable != "" {
			e := apierr.Newf(apierr.Invalid, "UnusableGPUError", "GPU %d (%s, %s) cannot be used: %s", hit.gpu.Index, hit.gpu.Name, hit.gpu.UUID, hit.unusable)
			if hit.gpu.MIGEnabled() {
				e.Suggest(fmt.Sprintf("Disable MIG with `nvidia-smi -i %d -mig 0` (then reset the GPU), or pin another GPU", hit.gpu.Index))
			}
			return nil, e.Suggest(`Use gpu = "auto" to let the agent choose`)
		}
		out = append(out, hit)
	}
	return out, nil
}

func unknownGPU(d DeviceRef, rooms []*room, inv Inventory) error {
	what := "GPU " + d.String()
	if d.UUID == "" {
		what = fmt.Sprintf("GPU index %d", d.Index)
	}
	known := make([]string, 0, len(rooms))
	for _, r := range rooms {
		known = append(known, fmt.Sprintf("%d: %s (%s)", r.gpu.Index, r.gpu.UUID, r.gpu.Name))
	}
	list := "none"
	if len(known) > 0 {
		list = strings.Join(known, ", ")
	}
	e := apierr.Newf(apierr.Invalid, "UnknownGPUError", "%s is not on this machine (provider %s); known GPUs: %s", what, inv.Provider, list).
		With("gpus", known)
	if len(known) > 0 {
		e.Suggest("Pin one of the known GPUs by UUID (indexes can change between boots), or use gpu = \"auto\"")
	} else {
		e.Suggest(`This machine has no usable GPU: set gpu = "none" (or "auto") to run on the CPU`)
	}
	return e
}

func noUsableGPU(project string, rooms []*room) error {
	why := make([]string, 0, len(rooms))
	for _, r := range rooms {
		why = append(why, fmt.Sprintf("GPU %d (%s): %s", r.gpu.Index, r.gpu.Name, r.unusable))
	}
	return apierr.Newf(apierr.Conflict, "NoUsableGPUError", "no GPU can take project %s: %s", project, strings.Join(why, "; ")).
		Suggest(`Set gpu = "none" on the project to run it on the CPU`, "Disable MIG on a GPU (`nvidia-smi -i N -mig 0`) to make it usable")
}

// insufficient builds the 409 for a project that fits nowhere: the closest GPU, and the
// fewest running projects to stop to make room.
func insufficient(project string, est int64, cands []*room) error {
	best := cands[0]
	for _, c := range cands[1:] {
		if c.availMB > best.availMB {
			best = c
		}
	}
	msg := fmt.Sprintf("project %s needs about %s of VRAM but no GPU has that much free: the closest, GPU %d (%s, %s), has %s free after headroom, other processes and the reservations of running projects",
		project, fmtMB(est), best.gpu.Index, best.gpu.Name, best.gpu.UUID, fmtMB(max(best.availMB, 0)))
	e := apierr.New(apierr.Conflict, "InsufficientVRAMError", msg)

	type plan struct {
		r     *room
		stops []projectRoom
		freed int64
	}
	var bestPlan *plan
	for _, c := range cands {
		ps := append([]projectRoom(nil), c.projects...)
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].ReservedMB > ps[j].ReservedMB })
		p := plan{r: c}
		for _, pr := range ps {
			if c.availMB+p.freed >= est {
				break
			}
			p.stops = append(p.stops, pr)
			p.freed += pr.ReservedMB
		}
		if c.availMB+p.freed < est || len(p.stops) == 0 {
			continue
		}
		if bestPlan == nil || len(p.stops) < len(bestPlan.stops) || (len(p.stops) == len(bestPlan.stops) && p.freed < bestPlan.freed) {
			bestPlan = &p
		}
	}
	stopIDs := []string{}
	if bestPlan != nil {
		names := make([]string, len(bestPlan.stops))
		for i, s := range bestPlan.stops {
			names[i] = fmt.Sprintf("%s (%d MB)", s.ID, s.ReservedMB)
			stopIDs = append(stopIDs, s.ID)
		}
		e.Suggest(fmt.Sprintf("Stop project %s to free room on GPU %d (%s)", strings.Join(names, " and "), bestPlan.r.gpu.Index, bestPlan.r.gpu.Name))
	} else {
		e.Suggest(fmt.Sprintf("No GPU can hold %s even with every project stopped; GPU %d (%s) is the closest at %s usable",
			fmtMB(est), best.gpu.Index, best.gpu.Name, fmtMB(max(best.availMB+sumReserved(best), 0))))
	}
	e.Suggest(fmt.Sprintf("GPU %d (%s, %s) is the closest: %s short", best.gpu.Index, best.gpu.Name, best.gpu.UUID, fmtMB(est-max(best.availMB, 0))),
		"Lower the workflow's VRAM (fp8 or GGUF models, smaller resolution or batch), or set gpu = \"none\" to run on the CPU")
	gpus := make([]map[string]any, len(cands))
	for i, c := range cands {
		gpus[i] = map[string]any{"index": c.gpu.Index, "uuid": c.gpu.UUID, "name": c.gpu.Name, "available_mb": c.availMB}
	}
	return e.With("estimate_mb", est).With("closest_gpu", best.gpu.UUID).With("stop_projects", stopIDs).With("gpus", gpus)
}

func sumReserved(r *room) int64 {
	var t int64
	for _, p := range r.projects {
		t += p.ReservedMB
	}
	return t
}

// fmtMB renders MiB with a GiB figure for readability: "12288 MB (12.0 GB)".
func fmtMB(mb int64) string {
	if mb < 1024 {
		return fmt.Sprintf("%d MB", mb)
	}
	return fmt.Sprintf("%d MB (%.1f GB)", mb, float64(mb)/1024)
}
