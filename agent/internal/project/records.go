package project

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/store"
)

// records holds every project record: in memory for reads, each change written to the store
// (bucket "projects") as it is made, and the model paths of each launcher JSON indexed for
// used_by_projects. A failing write is remembered for GET /api/health.
type records struct {
	db     Store
	now    func() time.Time
	models *modelIndex
	health persistHealth

	mu       sync.Mutex
	projects map[string]*entry
}

// entry is one project; mu serialises lifecycle actions (start, stop, delete, install
// submission) of that project, while records.mu guards the record itself.
type entry struct {
	mu sync.Mutex
	p  Project
}

func newRecords(db Store, now func() time.Time) *records {
	return &records{db: db, now: now, models: newModelIndex(), projects: map[string]*entry{}}
}

// load reads the stored records; an unreadable one is logged and skipped.
func (r *records) load(log *slog.Logger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.db.Scan(store.BucketProjects, "", func(key string, raw []byte) error {
		var p Project
		if err := json.Unmarshal(raw, &p); err != nil {
			log.Warn("skipping unreadable project record", "key", key, "err", err)
			return nil
		}
		r.projects[p.ID] = &entry{p: p}
		r.models.set(&p)
		return nil
	})
}

// get returns a copy of the project record and its entry (for the entry's lock).
func (r *records) get(id string) (Project, *entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.projects[id]
	if !ok {
		return Project{}, nil, notFound(id)
	}
	return e.p, e, nil
}

// current is the record as it is now, empty if the project is gone.
func (r *records) current(id string) Project {
	p, _, _ := r.get(id)
	return p
}

func notFound(id string) *apierr.Error {
	return apierr.Newf(apierr.NotFound, "ProjectNotFoundError", "project %q does not exist", id).
		Suggest("List projects with GET /api/projects", "Create it with POST /api/create_project")
}

// list returns every project, most recently changed first.
func (r *records) list() []Project {
	r.mu.Lock()
	out := make([]Project, 0, len(r.projects))
	for _, e := range r.projects {
		out = append(out, e.p)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.After(out[j].UpdatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// update applies fn to the record, persists it and returns the new copy.
func (r *records) update(id string, fn func(p *Project)) (Project, error) {
	r.mu.Lock()
	e, ok := r.projects[id]
	if !ok {
		r.mu.Unlock()
		return Project{}, notFound(id)
	}
	fn(&e.p)
	e.p.UpdatedAt = r.now().UTC()
	p := e.p
	err := r.db.Put(store.BucketProjects, id, p)
	r.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("persist project %s: %w", id, err)
	}
	r.health.note(err, r.now())
	return p, err
}

// insert stores a new record; a project with its id already exists is a conflict.
func (r *records) insert(p Project) (*entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, exists := r.projects[p.ID]; exists {
		return nil, apierr.Newf(apierr.Conflict, "ProjectExistsError", "a project with id %q already exists", p.ID).
			Suggest("Choose another name", fmt.Sprintf("Or delete the old one: POST /api/projects/%s/delete", p.ID))
	}
	if err := r.db.Put(store.BucketProjects, p.ID, p); err != nil {
		return nil, fmt.Errorf("persist project: %w", err)
	}
	e := &entry{p: p}
	r.projects[p.ID] = e
	r.models.set(&p)
	return e, nil
}

// remove deletes the record, from memory first so that the API no longer shows it.
func (r *records) remove(id string) error {
	r.mu.Lock()
	delete(r.projects, id)
	r.models.forget(id)
	r.mu.Unlock()
	if err := r.db.Delete(store.BucketProjects, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete project record: %w", err)
	}
	return nil
}
