// Package project is the lifecycle of ComfyUI projects: create and import, the install
// pipeline (clone ComfyUI, create its venv, install custom nodes, write extra_model_paths.yaml,
// fetch files through the model store), start/stop through the process supervisor, per-project
// logs in the store, re-adoption of live processes after an agent restart and the desired-state
// reconcile loop for [[projects]] declared in launcher.toml.
//
// The original launcher had no failed state, deleted a project folder when its install threw,
// left "running" projects with dead processes and kept no logs. Here every failure is a
// "failed" state that names the step, the error and what to do, and can be retried; a project
// is only deleted on request; state is reconciled with reality on every start; every line a
// subprocess prints is a log entry the API pages through.
//
// The install pipeline is a durable operation ("install_project") whose steps are idempotent:
// each step leaves a marker with a fingerprint of its inputs, so a step re-run after a crash
// or a retry skips what is already done and redoes only what is incomplete.
//
// A ComfyUI process is recorded (pid, start time, group, port) as soon as it is spawned,
// before its readiness is awaited, so an agent killed at any point finds it again: it is
// re-adopted if the project was starting or running, and ended otherwise.
//
// Log lines are queued and written in batches (one transaction per batch, flushed before the
// project reports ready or running); live log_entry events are sent at once up to a budget
// per project, beyond which one notice counts what was not sent (GET /api/logs has it all).
//
// Manager is the facade; each behaviour is a small type of its own file: records (the
// records and their store), states and progress (state changes and progress_update), creator
// (create.go: create and import), installOps (install_op.go: the durable install operation)
// and installer (install.go: its steps, with venvs, files and shell), processes (start and
// stop) and ProcessEvents (what the supervisor reports), remover (delete.go), restorer
// (restore.go: after an agent restart), reconciler (reconcile.go: [[projects]]), logBook
// (logs.go) and logPruner (prune.go), targets (the reverse proxy's ports) and templateSet
// (templates.go). The HTTP handlers are in package projecthttp.
package project
