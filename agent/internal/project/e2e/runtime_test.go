package e2e

import (
	"log/slog"

	"github.com/comfylauncher/launcher/agent/internal/ports"
	"github.com/comfylauncher/launcher/agent/internal/process"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/project/bind"
	"github.com/comfylauncher/launcher/agent/internal/proxy"
	"github.com/julienschmidt/httprouter"
)

// runtime is the process side of the agent: supervisor, port leases and the proxy.
type runtime struct {
	// bind hands the manager to the supervisor's hooks and the proxy once it exists.
	bind func(m *project.Manager)
	stop func()
}

// wireRuntime adds the real supervisor, port leaser and proxy to deps and r, as the app does.
func wireRuntime(deps *project.Deps, r *httprouter.Router, logger *slog.Logger) runtime {
	ref := &bind.ManagerRef{}
	sup := process.New(logger, ref.Hooks(), process.Options{})
	deps.Supervisor = bind.Supervisor{S: sup}
	deps.Ports = ports.New(20000, 20999)
	proxy.New(ref, logger).Routes(r)
	return runtime{
		bind: ref.Set,
		// Agent shutdown leaves ComfyUI running so it is re-adopted by the next agent.
		stop: func() { sup.Detach() },
	}
}
