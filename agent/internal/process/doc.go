// Package process supervises ComfyUI servers, one per project.
//
// Each server runs as `<python> main.py --listen 127.0.0.1 --port P ...` in its own process
// group, so a stop reaches everything it spawned. Its stdout and stderr go straight into a
// per-run log file that the child holds open itself: the file keeps growing, and the process
// keeps running, when the agent exits or restarts. The supervisor tails that file (log levels
// are detected per line), and a process counts as ready once GET /system_stats answers 200.
//
// Unexpected exits are classified from the last log lines (port in use, CUDA out of memory,
// custom node import failure, missing Python module) into an ExitInfo with suggestions, and
// the restart policy (never, on-failure, always) restarts with exponential backoff until a
// crash-loop breaker opens.
//
// After an agent restart the caller hands the persisted Record to Adopt. The process is
// re-adopted only if its pid is alive with the same start time (field 22 of /proc/<pid>/stat,
// which rules out a recycled pid) and its port answers; it is then watched by polling, since
// it is no longer our child.
//
// What the caller does:
//   - persist the Record from Start and from every OnReady (a restart has a new pid and log);
//     before Detach, read Get for the current LogOffset so an adopting agent does not
//     re-emit lines;
//   - own the port lease: the supervisor never leases or releases ports, so the caller
//     releases it after Stop returns and after a final exit (ExitInfo.WillRestart == false);
//   - on agent shutdown call Detach, not StopAll: servers outlive the agent. Under systemd
//     that needs KillMode=process (or mixed) in the agent's unit, or systemd kills the
//     ComfyUI process groups with the agent.
package process
