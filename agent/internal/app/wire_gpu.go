package app

import (
	"context"

	"github.com/comfylauncher/launcher/agent/internal/gpu"
	"github.com/comfylauncher/launcher/agent/internal/gpu/gpuhttp"
)

func (a *App) wireGPU() error {
	c := a.cfg.GPU
	fakes := make([]gpu.FakeGPU, 0, len(c.Fake))
	for _, f := range c.Fake {
		fakes = append(fakes, gpu.FakeGPU{UUID: f.UUID, Name: f.Name, MemoryTotalMB: f.MemoryTotalMB, MemoryUsedMB: f.MemoryUsedMB})
	}
	m, err := gpu.New(gpu.Options{
		Provider:          c.Provider,
		NvidiaSMI:         c.NvidiaSMI,
		Fake:              fakes,
		ReserveMB:         c.ReserveMB,
		DefaultEstimateMB: c.DefaultEstimateMB,
		RefreshInterval:   c.RefreshInterval.Duration,
		QueryTimeout:      c.QueryTimeout.Duration,
		Logger:            a.log.With("component", "gpu"),
		Store:             a.db,
	})
	if err != nil {
		return err
	}
	a.gpu = m
	gpuhttp.Routes(a.api.Router, m)
	a.api.AddHealth("gpu", func() (bool, any) {
		ok, warning := m.Health()
		return ok, map[string]any{"provider": c.Provider, "warning": warning}
	})
	a.background(func(ctx context.Context) { m.Run(ctx) })
	return nil
}
