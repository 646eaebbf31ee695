package project

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// InstallFunction is the name of the install operation.
const InstallFunction = "install_project"

// installOps runs the install pipeline as a durable operation ("install_project") on the
// operations runner: submitted at create, retried from the failed step, resumed after an
// agent restart and cancelled by a delete.
type installOps struct {
	ops      Operations
	attempts int
	steps    *installer
	recs     *records
	states   *states
	logs     *logBook
	layout   layout
	log      *slog.Logger
}

// definition is the install_project operation.
func (o *installOps) definition() Definition {
	return Definition{
		Name:        InstallFunction,
		MaxAttempts: o.attempts,
		Steps: []Step{
			{Name: stepDownloadComfyUI, Run: o.steps.downloadComfyUI},
			{Name: stepInstallComfyUI, Run: o.steps.installComfyUI},
			{Name: stepInstallCustomNodes, Run: o.steps.installCustomNodes},
			{Name: stepDownloadFiles, Run: o.steps.downloadFiles},
		},
		OnTerminal: o.terminal,
	}
}

// terminal records how the install operation ended. Success makes the project ready;
// anything else is the failed state with the step and error (never a deletion).
func (o *installOps) terminal(_ context.Context, projectID, opID, state string, err error) {
	p, _, gerr := o.recs.get(projectID)
	if gerr != nil || p.InstallOp != opID {
		return // deleted, or superseded by a newer install
	}
	switch state {
	case "success":
		return // the last step logged it and made the project ready
	case "cancelled":
		if err == nil {
			err = errors.New("install was cancelled")
		}
	}
	if err == nil {
		err = fmt.Errorf("install ended in state %s", state)
	}
	step := string(p.State)
	var se *StepError
	if errors.As(err, &se) {
		step = se.Step
	}
	if !State(step).Installing() {
		step = stepDownloadComfyUI
	}
	// Nobody waits for this outcome: a failure to record it is logged here and shown by
	// GET /api/health until a later write succeeds.
	if _, ferr := o.states.fail(projectID, step, err, true); ferr != nil {
		o.log.Error("record the failed install", "project", projectID, "op", opID, "state", state, "step", step, "install_error", err, "err", ferr)
	}
}

// submit starts the install operation; the caller holds the entry's lock.
func (o *installOps) submit(ctx context.Context, id string) error {
	if err := o.layout.ensure(id); err != nil {
		return err
	}
	opID, err := o.ops.Submit(ctx, InstallFunction, map[string]any{"project_id": id})
	if err != nil {
		return fmt.Errorf("submit install: %w", err)
	}
	_, err = o.recs.update(id, func(p *Project) { p.InstallOp = opID })
	return err
}

// retry re-runs the failed install of p from its failed step: the same operation if the
// runner still has it, else a new one.
func (o *installOps) retry(ctx context.Context, p Project, e *entry) (Project, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := p.ID
	// Resume at the failed step: the state is set before the runner can move it on.
	resume := StateDownloadComfyUI
	if p.Failure != nil && State(p.Failure.Step).Installing() {
		resume = State(p.Failure.Step)
	}
	o.logs.Add(id, LevelInfo, "retrying install at "+string(resume), nil)
	if _, err := o.states.set(id, resume); err != nil {
		return p, err
	}
	if p.InstallOp != "" {
		if opID, rerr := o.ops.Retry(p.InstallOp, true, 0); rerr == nil {
			return o.recs.update(id, func(p *Project) { p.InstallOp = opID })
		}
	}
	if err := o.submit(ctx, id); err != nil {
		return o.states.fail(id, string(resume), err, true)
	}
	p, _, err := o.recs.get(id)
	return p, err
}

// resume lets the durable runner continue an install it knows about, and resubmits one it
// does not (a lost operation); finished steps are skipped.
func (o *installOps) resume(ctx context.Context, p Project) {
	if p.InstallOp != "" {
		if st, ok := o.ops.Status(p.InstallOp); ok {
			switch st {
			case "pending", "in_progress", "recovering":
				o.logs.Add(p.ID, LevelInfo, "agent restarted: install resumes at "+string(p.State), nil)
				return
			case "success":
				if err := o.steps.finish(p.ID); err != nil {
					o.log.Error("finish install", "project", p.ID, "err", err)
				}
				return
			}
		}
	}
	o.logs.Add(p.ID, LevelInfo, "agent restarted: resuming install at "+string(p.State), nil)
	_, e, err := o.recs.get(p.ID)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := o.submit(ctx, p.ID); err != nil {
		if _, ferr := o.states.fail(p.ID, string(p.State), err, true); ferr != nil {
			o.log.Error("record a failed install resumption", "project", p.ID, "install_error", err, "err", ferr)
		}
	}
}

// cancel cancels the install operation opID and waits (briefly) until it has stopped, so that
// the project folder is not removed while its step still writes into it.
func (o *installOps) cancel(ctx context.Context, projectID, opID string) {
	if err := o.ops.Cancel(opID); err != nil {
		o.log.Warn("cancel the install of a deleted project", "project", projectID, "op", opID, "err", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, ok := o.ops.Status(opID)
		if !ok || (st != "pending" && st != "in_progress" && st != "recovering") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
