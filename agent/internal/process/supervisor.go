package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// Supervisor runs and watches one ComfyUI process per project. It is safe for concurrent use.
type Supervisor struct {
	log   *slog.Logger
	hooks Hooks
	opt   Options

	mu    sync.Mutex
	procs map[string]*proj

	// detached is closed by Detach: every watcher returns without touching the processes.
	detached   chan struct{}
	detachOnce sync.Once
}

// proj is the supervision of one project, from Start (or Adopt) to its final exit or Stop.
type proj struct {
	spec     Spec
	stop     chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when supervision ended
	// inst is the current process (nil between a crash and the next spawn); ready says it
	// answered. Both are guarded by Supervisor.mu.
	inst  *instance
	ready bool
	// crashes are the times of recent unexpected exits (supervise goroutine only).
	crashes []time.Time
}

func (p *proj) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// New returns a supervisor; logger may be nil.
func New(logger *slog.Logger, hooks Hooks, opts Options) *Supervisor {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.setDefaults()
	return &Supervisor{
		log:      logger.With("component", "process"),
		hooks:    hooks,
		opt:      opts,
		procs:    map[string]*proj{},
		detached: make(chan struct{}),
	}
}

// Start runs spec's ComfyUI and returns once it answers GET /system_stats. If it exits first,
// or does not answer within spec.ReadyTimeout, its process group is killed and the error is
// an *apierr.Error (PortInUseError or ComfyUIStartError) naming the cause from the last log
// lines, with suggestions. After a successful Start the restart policy applies.
func (s *Supervisor) Start(ctx context.Context, spec Spec) (Record, error) {
	spec, err := normalize(spec)
	if err != nil {
		return Record{}, err
	}
	p, err := s.register(spec)
	if err != nil {
		return Record{}, err
	}
	if pids := s.endStrays(spec); len(pids) > 0 {
		s.log.Warn("killed a ComfyUI of this project that no agent tracked", "project", spec.ProjectID, "pids", pids)
	}
	inst, info, err := s.launch(ctx, p)
	if err != nil {
		s.finish(p)
		if info != nil {
			s.log.Warn("comfyui start failed", "project", spec.ProjectID, "cause", info.Cause, "err", err)
		}
		return Record{}, err
	}
	rec := s.markReady(p, inst)
	go s.supervise(p, inst)
	return rec, nil
}

// register reserves projectID for a new supervision.
func (s *Supervisor) register(spec Spec) (*proj, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isDetached() {
		return nil, apierr.New(apierr.Unavailable, "ShuttingDownError", "the agent is shutting down")
	}
	if _, ok := s.procs[spec.ProjectID]; ok {
		return nil, apierr.Newf(apierr.Conflict, "AlreadyRunningError", "ComfyUI of project %s is already running or starting", spec.ProjectID).
			Suggest("Stop the project first, or restart it")
	}
	p := &proj{spec: spec, stop: make(chan struct{}), done: make(chan struct{})}
	s.procs[spec.ProjectID] = p
	return p, nil
}

// finish ends p's supervision.
func (s *Supervisor) finish(p *proj) {
	s.mu.Lock()
	if s.procs[p.spec.ProjectID] == p {
		delete(s.procs, p.spec.ProjectID)
	}
	p.inst, p.ready = nil, false
	s.mu.Unlock()
	close(p.done)
}

func (s *Supervisor) markReady(p *proj, inst *instance) Record {
	s.drainLog(inst)
	s.mu.Lock()
	p.inst, p.ready = inst, true
	rec := inst.record()
	s.mu.Unlock()
	s.log.Info("comfyui ready", "project", p.spec.ProjectID, "pid", rec.PID, "port", rec.Port, "log", rec.LogPath)
	if s.hooks.OnReady != nil {
		s.hooks.OnReady(p.spec.ProjectID, rec)
	}
	return rec
}

// drainLog hands out every complete line written so far, so that the lines before "ready"
// reach OnLog before OnReady does.
func (s *Supervisor) drainLog(inst *instance) {
	if inst.tail != nil {
		inst.tail.poll(false)
	}
}

// supervise waits for inst to exit and applies the restart policy until Stop, Detach or a
// final exit.
func (s *Supervisor) supervise(p *proj, inst *instance) {
	defer func() {
		if !s.isDetached() {
			s.finish(p)
		}
	}()
	for {
		select {
		case <-inst.exited:
		case <-s.detached:
			return
		}
		info := s.exitInfo(inst, p.spec)
		if p.stopping() {
			return
		}
		s.mu.Lock()
		p.inst, p.ready = nil, false
		s.mu.Unlock()
		for {
			attempt, delay := s.decide(p, &info)
			s.log.Warn("comfyui exited", "project", p.spec.ProjectID, "exit_code", info.ExitCode, "signal", info.Signal,
				"cause", info.Cause, "will_restart", info.WillRestart, "breaker_open", info.BreakerOpen)
			if s.hooks.OnExit != nil {
				s.hooks.OnExit(p.spec.ProjectID, info)
			}
			if !info.WillRestart {
				return
			}
			if s.hooks.OnRestart != nil {
				s.hooks.OnRestart(p.spec.ProjectID, attempt, delay)
			}
			select {
			case <-s.opt.Clock.After(delay):
			case <-p.stop:
				return
			case <-s.detached:
				return
			}
			next, failed, err := s.launch(context.Background(), p)
			if err == nil {
				inst = next
				s.markReady(p, inst)
				break
			}
			if p.stopping() || s.isDetached() {
				return
			}
			if failed == nil { // could not even spawn (interpreter gone): a crash like any other
				failed = &ExitInfo{ExitCode: -1, Cause: CauseUnknown, Message: err.Error()}
				var e *apierr.Error
				if errors.As(err, &e) {
					failed.Suggestions = e.Suggestions
				}
			}
			info = *failed
		}
	}
}

// decide applies the restart policy and the crash-loop breaker to an unexpected exit.
func (s *Supervisor) decide(p *proj, info *ExitInfo) (attempt int, delay time.Duration) {
	now := s.opt.Clock.Now()
	kept := p.crashes[:0]
	for _, t := range p.crashes {
		if now.Sub(t) < s.opt.BreakerWindow {
			kept = append(kept, t)
		}
	}
	p.crashes = append(kept, now)
	n := len(p.crashes)

	failed := info.ExitCode != 0 || info.Signal != ""
	switch p.spec.Restart {
	case RestartAlways:
		info.WillRestart = true
	case RestartOnFailure:
		info.WillRestart = failed
	default:
		info.WillRestart = false
	}
	if info.WillRestart && n >= s.opt.BreakerThreshold {
		info.WillRestart = false
		info.BreakerOpen = true
		info.BreakerReason = fmt.Sprintf("crashed %d times within %s, last cause %s: %s", n, s.opt.BreakerWindow, info.Cause, info.Message)
		info.Suggestions = append(info.Suggestions, "Fix the cause above, then start the project again (the restart budget is reset by a manual start)")
	}
	delay = s.opt.BackoffBase
	for i := 1; i < n && delay < s.opt.BackoffMax; i++ {
		delay *= 2
	}
	return n, min(delay, s.opt.BackoffMax)
}

// Stop terminates projectID's process group: SIGTERM, then SIGKILL after spec.StopGrace.
// It is not restarted afterwards. Stopping a project that is not running is a no-op. The
// caller releases the port lease afterwards.
func (s *Supervisor) Stop(ctx context.Context, projectID string) error {
	s.mu.Lock()
	p := s.procs[projectID]
	var inst *instance
	if p != nil {
		inst = p.inst
	}
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() { close(p.stop) })
	if inst != nil {
		if err := s.terminate(ctx, inst, p.spec.StopGrace); err != nil {
			return err
		}
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop project %s: %w", projectID, ctx.Err())
	}
}

// terminate sends SIGTERM to the group, waits up to grace, then SIGKILLs the group. The
// SIGKILL is sent even after a clean exit: it reaches children the server left behind.
func (s *Supervisor) terminate(ctx context.Context, inst *instance, grace time.Duration) error {
	if err := signalGroup(inst.rec.PGID, syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-inst.exited:
	case <-s.opt.Clock.After(grace):
		s.log.Warn("comfyui ignored SIGTERM, killing its group", "pid", inst.rec.PID, "grace", grace)
	case <-ctx.Done():
	}
	if err := signalGroup(inst.rec.PGID, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-inst.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for pid %d: %w", inst.rec.PID, ctx.Err())
	case <-s.opt.Clock.After(30 * time.Second):
		return fmt.Errorf("pid %d did not exit after SIGKILL", inst.rec.PID)
	}
}

// Get returns the record of projectID's process while it is running and ready, with the
// current log offset.
func (s *Supervisor) Get(projectID string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.procs[projectID]
	if p == nil || p.inst == nil || !p.ready {
		return Record{}, false
	}
	return p.inst.record(), true
}

// StopAll stops every process (tests and explicit shutdown-with-stop only: an agent shutdown
// calls Detach so the servers keep running).
func (s *Supervisor) StopAll(ctx context.Context) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.procs))
	for id := range s.procs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Stop(ctx, id); err != nil {
				s.log.Warn("stop failed", "project", id, "err", err)
			}
		}()
	}
	wg.Wait()
}

// Detach stops watching and tailing without touching the processes; the supervisor cannot
// be used afterwards. Callers that want exact log offsets persisted read Get first.
func (s *Supervisor) Detach() {
	s.detachOnce.Do(func() { close(s.detached) })
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.procs {
		if p.inst != nil {
			p.inst.closeTail()
		}
		delete(s.procs, id)
	}
}

func (s *Supervisor) isDetached() bool {
	select {
	case <-s.detached:
		return true
	default:
		return false
	}
}

// errStopped and errDetached end a launch that Stop or Detach interrupted.
var (
	errStopped  = errors.New("stopped while starting")
	errDetached = errors.New("supervisor detached while starting")
)
