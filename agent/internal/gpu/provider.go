package gpu

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/gpu/gpupref"
)

// Provider names, as written in launcher.toml [gpu] provider.
const (
	ProviderAuto      = "auto"
	ProviderNvidiaSMI = "nvidia-smi"
	ProviderFake      = "fake"
	ProviderNone      = "none"
)

// Inventory is one answer of a provider.
type Inventory struct {
	// Provider is the provider that answered: "auto" resolves to nvidia-smi or none.
	Provider string
	GPUs     []GPU
	Apps     []ComputeApp
	// Warnings are problems that left the inventory usable (e.g. the process query failed).
	Warnings []string
}

// Provider lists GPUs and the compute processes on them.
type Provider interface {
	// Name is the configured provider name.
	Name() string
	// Query returns the current inventory. An error means the GPU state is unknown.
	Query(ctx context.Context) (Inventory, error)
}

var (
	_ Provider = (*smiProvider)(nil)
	_ Provider = (*fakeProvider)(nil)
	_ Provider = noneProvider{}
)

// smiProvider queries nvidia-smi. With optional set (provider "auto") a missing binary means
// "this machine has no NVIDIA GPU" rather than an error.
type smiProvider struct {
	runner   smiRunner
	optional bool
}

func (p *smiProvider) Name() string {
	if p.optional {
		return ProviderAuto
	}
	return ProviderNvidiaSMI
}

func (p *smiProvider) Query(ctx context.Context) (Inventory, error) {
	inv := Inventory{Provider: ProviderNvidiaSMI}
	out, err := p.runner.run(ctx, gpuQueryArgs)
	if err != nil {
		if p.optional && errors.Is(err, ErrNoNvidiaSMI) {
			inv.Provider = ProviderNone
			inv.Warnings = append(inv.Warnings, "nvidia-smi was not found on PATH, so projects run on the CPU; install the NVIDIA driver or set [gpu] nvidia_smi to its path")
			return inv, nil
		}
		return inv, err
	}
	gpus, err := parseGPUs(out)
	if err != nil {
		return inv, &QueryError{Args: gpuQueryArgs, ExitCode: 0, Output: summarize(out), Err: fmt.Errorf("unexpected output: %w", err)}
	}
	inv.GPUs = gpus
	if len(gpus) == 0 {
		inv.Warnings = append(inv.Warnings, "nvidia-smi found no GPUs (\"No devices were found\"), so projects run on the CPU; check `nvidia-smi` and `dmesg` for a GPU that fell off the bus")
		return inv, nil
	}
	out, err = p.runner.run(ctx, appQueryArgs)
	if err == nil {
		inv.Apps, err = parseApps(out)
	}
	if err != nil {
		// Placement still works without per-process numbers; measurement does not.
		inv.Warnings = append(inv.Warnings, "per-process VRAM is unavailable: "+err.Error())
	}
	return inv, nil
}

// FakeGPU describes one GPU of the fake provider ([[gpu.fake]] in launcher.toml).
type FakeGPU struct {
	UUID          string
	Name          string
	MemoryTotalMB int64
	MemoryUsedMB  int64
}

// fakeProvider serves a fixed inventory for demos on machines without GPUs. It has no
// processes: usage measured per project is always unknown.
type fakeProvider struct{ gpus []GPU }

func newFakeProvider(fakes []FakeGPU) (*fakeProvider, error) {
	if len(fakes) == 0 {
		return nil, errors.New(`gpu provider "fake" needs at least one fake GPU ([[gpu.fake]] with uuid and memory_total_mb)`)
	}
	p := &fakeProvider{}
	seen := map[string]bool{}
	for i, f := range fakes {
		switch {
		case !gpupref.IsUUID(f.UUID):
			return nil, fmt.Errorf("gpu.fake[%d]: uuid %q must start with GPU-", i, f.UUID)
		case seen[strings.ToLower(f.UUID)]:
			return nil, fmt.Errorf("gpu.fake[%d]: uuid %q is listed twice", i, f.UUID)
		case f.MemoryTotalMB <= 0:
			return nil, fmt.Errorf("gpu.fake[%d]: memory_total_mb must be positive", i)
		case f.MemoryUsedMB < 0 || f.MemoryUsedMB > f.MemoryTotalMB:
			return nil, fmt.Errorf("gpu.fake[%d]: memory_used_mb must be between 0 and memory_total_mb", i)
		}
		seen[strings.ToLower(f.UUID)] = true
		name := f.Name
		if name == "" {
			name = "Fake GPU"
		}
		p.gpus = append(p.gpus, GPU{
			Index: i, UUID: f.UUID, Name: name,
			MemoryTotalMB: f.MemoryTotalMB, MemoryUsedMB: f.MemoryUsedMB, MemoryFreeMB: f.MemoryTotalMB - f.MemoryUsedMB,
			UtilizationPercent: Unknown, TemperatureC: Unknown, MIGMode: "Disabled",
		})
	}
	return p, nil
}

func (p *fakeProvider) Name() string { return ProviderFake }

func (p *fakeProvider) Query(context.Context) (Inventory, error) {
	return Inventory{Provider: ProviderFake, GPUs: append([]GPU(nil), p.gpus...)}, nil
}

// noneProvider is a machine without GPUs: every project runs with --cpu.
type noneProvider struct{}

func (noneProvider) Name() string { return ProviderNone }

func (noneProvider) Query(context.Context) (Inventory, error) {
	return Inventory{Provider: ProviderNone}, nil
}
