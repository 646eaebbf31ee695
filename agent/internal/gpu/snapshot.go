package gpu

import (
	"context"
	"time"
)

// GPUsResponse is the body of GET /api/gpus.
type GPUsResponse struct {
	Provider string    `json:"provider"`
	GPUs     []GPUView `json:"gpus"`
	// CPUProjects are the projects placed on the CPU.
	CPUProjects []string `json:"cpu_projects"`
	Warnings    []string `json:"warnings"`
	// UpdatedAt is when the provider last answered.
	UpdatedAt *time.Time `json:"updated_at"`
}

// GPUView is one GPU with its state and the projects placed on it. Numbers the driver does
// not report are null.
type GPUView struct {
	Index              int    `json:"index"`
	UUID               string `json:"uuid"`
	Name               string `json:"name"`
	MemoryTotalMB      *int64 `json:"memory_total_mb"`
	MemoryUsedMB       *int64 `json:"memory_used_mb"`
	MemoryFreeMB       *int64 `json:"memory_free_mb"`
	UtilizationPercent *int64 `json:"utilization_percent"`
	TemperatureC       *int64 `json:"temperature_c"`
	MIGMode            string `json:"mig_mode"`
	// ReservedMB is what placed projects are counted for: max(reservation, measured) each.
	ReservedMB int64 `json:"reserved_mb"`
	// AvailableMB is what a new project may take; null when the GPU is not used for placement.
	AvailableMB *int64           `json:"available_mb"`
	Unusable    string           `json:"unusable,omitempty"`
	Projects    []GPUProjectView `json:"projects"`
}

// GPUProjectView is a project on a GPU.
type GPUProjectView struct {
	ProjectID  string `json:"project_id"`
	ReservedMB int64  `json:"reserved_mb"`
	// UsedMB is measured from the project's compute processes; null when not measured.
	UsedMB *int64 `json:"used_mb"`
}

// Snapshot returns what GET /api/gpus serves, refreshing the inventory when it is stale.
// A failing provider yields no GPUs and a warning, not an error.
func (m *Manager) Snapshot(ctx context.Context) GPUsResponse {
	inv, err := m.inventory(ctx, false)
	m.mu.Lock()
	defer m.mu.Unlock()
	resp := GPUsResponse{Provider: inv.Provider, GPUs: []GPUView{}, CPUProjects: []string{}, Warnings: []string{}}
	if resp.Provider == "" {
		resp.Provider = m.prov.Name()
	}
	if !m.invAt.IsZero() {
		at := m.invAt.UTC()
		resp.UpdatedAt = &at
	}
	if w := m.warningLocked(); w != "" {
		resp.Warnings = append(resp.Warnings, w)
	}
	for _, p := range sortedKeys(m.res) {
		if m.res[p].gpu == "" {
			resp.CPUProjects = append(resp.CPUProjects, p)
		}
	}
	if err != nil {
		return resp
	}
	for _, r := range m.roomsLocked(inv) {
		g := r.gpu
		v := GPUView{
			Index: g.Index, UUID: g.UUID, Name: g.Name,
			MemoryTotalMB: opt(g.MemoryTotalMB), MemoryUsedMB: opt(g.MemoryUsedMB), MemoryFreeMB: opt(g.MemoryFreeMB),
			UtilizationPercent: opt(g.UtilizationPercent), TemperatureC: opt(g.TemperatureC),
			MIGMode: g.MIGMode, Unusable: r.unusable, Projects: []GPUProjectView{},
		}
		if r.unusable == "" {
			a := r.availMB
			v.AvailableMB = &a
		}
		for _, p := range r.projects {
			v.ReservedMB += p.ReservedMB
			v.Projects = append(v.Projects, GPUProjectView{ProjectID: p.ID, ReservedMB: p.ReservedMB, UsedMB: opt(p.UsedMB)})
		}
		resp.GPUs = append(resp.GPUs, v)
	}
	return resp
}

func opt(v int64) *int64 {
	if v == Unknown {
		return nil
	}
	return &v
}
