package project

import (
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/events"
)

// progressBoard keeps the latest progress_update of each project, publishes each change and
// gives it to a new subscriber.
type progressBoard struct {
	pub Publisher

	mu   sync.Mutex
	byID map[string]Progress
}

func newProgressBoard(pub Publisher) *progressBoard {
	return &progressBoard{pub: pub, byID: map[string]Progress{}}
}

// set records and publishes the progress of a project.
func (b *progressBoard) set(id string, pr Progress) {
	b.mu.Lock()
	b.byID[id] = pr
	b.mu.Unlock()
	b.publish(id, pr)
}

// state publishes p's state as a progress_update so subscribers see every transition; an
// install state keeps the install's progress.
func (b *progressBoard) state(p Project) {
	b.mu.Lock()
	pr := b.byID[p.ID]
	if !p.State.Installing() {
		pr = Progress{Stage: string(p.State), Progress: 100}
		if p.State == StateFailed && p.Failure != nil {
			pr.Progress = 0
			pr.Error = p.Failure.Error
		}
		b.byID[p.ID] = pr
	}
	b.mu.Unlock()
	b.publish(p.ID, pr)
}

// get returns the last progress of a project, if it had any since the agent started.
func (b *progressBoard) get(id string) (Progress, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pr, ok := b.byID[id]
	return pr, ok
}

func (b *progressBoard) forget(id string) {
	b.mu.Lock()
	delete(b.byID, id)
	b.mu.Unlock()
}

func (b *progressBoard) publish(id string, pr Progress) {
	if b.pub != nil {
		b.pub.Publish(events.ProjectTopic(id), events.Progress, events.ProjectProgress{ProjectID: id, Progress: pr})
	}
}
