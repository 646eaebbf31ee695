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
// used_by_projects. A failing write is remembered for GET /api/health. The launcher JSON
// (megabytes for a large workflow) never changes after creation, so it is stored once under
// its own key (bucket "launcher_json") and the record, rewritten at every state change,
// stays small.
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

// load reads the stored records and their launcher JSON; an unreadable record is logged and
// skipped. A record of an older agent still holding its launcher JSON is split on the way.
func (r *records) load(log *slog.Logger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.db.Scan(store.BucketProjects, "", func(key string, raw []byte) error {
		var p Project
		if err := json.Unmarshal(raw, &p); err != nil {
			log.Warn("skipping unreadable project record", "key", key, "err", err)
			return nil
		}
		if len(p.LauncherJSON) > 0 {
			r.split(log, p)
		} else if err := r.db.Get(store.BucketLauncherJSON, p.ID, &p.LauncherJSON); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("project launcher JSON unreadable; the project has none until recreated", "project", p.ID, "err", err)
		}
		r.projects[p.ID] = &entry{p: p}
		r.models.set(&p)
		return nil
	})
}

// split moves the launcher JSON of a record written by an older agent under its own key,
// then rewrites the record without it. Either write may fail: the record then keeps its
// launcher JSON and is split at a later start.
func (r *records) split(log *slog.Logger, p Project) {
	if err := r.db.Put(store.BucketLauncherJSON, p.ID, p.LauncherJSON); err != nil {
		log.Warn("could not move the project's launcher JSON to its own key", "project", p.ID, "err", err)
		return
	}
	if err := r.db.Put(store.BucketProjects, p.ID, stored(p)); err != nil {
		log.Warn("could not rewrite the project record without its launcher JSON", "project", p.ID, "err", err)
	}
}

// stored is the record as the projects bucket keeps it: without the launcher JSON.
func stored(p Project) Project {
	p.LauncherJSON = nil
	return p
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
	err := r.db.Put(store.BucketProjects, id, stored(p))
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
	// The launcher JSON first: a record is never stored without the launcher JSON it had,
	// nor next to one a failed delete left behind.
	if len(p.LauncherJSON) > 0 {
		if err := r.db.Put(store.BucketLauncherJSON, p.ID, p.LauncherJSON); err != nil {
			return nil, fmt.Errorf("persist project launcher JSON: %w", err)
		}
	} else if err := r.db.Delete(store.BucketLauncherJSON, p.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("clear project launcher JSON: %w", err)
	}
	if err := r.db.Put(store.BucketProjects, p.ID, stored(p)); err != nil {
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
	// After the record: a launcher JSON left by a failed delete is overwritten by the next
	// project of this id and never read without its record.
	if err := r.db.Delete(store.BucketLauncherJSON, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete project launcher JSON: %w", err)
	}
	return nil
}
