package project

import "sync"

// modelIndex maps project ids to the "folder/name" model paths of their launcher JSON, for the
// model store's used_by_projects.
type modelIndex struct {
	mu    sync.Mutex
	paths map[string][]string
}

func newModelIndex() *modelIndex { return &modelIndex{paths: map[string][]string{}} }

// set indexes the model paths of p's launcher JSON.
func (x *modelIndex) set(p *Project) {
	var paths []string
	if lj, err := parseLauncherJSON(p.LauncherJSON); err == nil {
		paths = lj.modelPaths()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(paths) > 0 {
		x.paths[p.ID] = paths
	} else {
		delete(x.paths, p.ID)
	}
}

func (x *modelIndex) forget(id string) {
	x.mu.Lock()
	delete(x.paths, id)
	x.mu.Unlock()
}

// all returns a copy of the index.
func (x *modelIndex) all() map[string][]string {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string][]string, len(x.paths))
	for id, l := range x.paths {
		out[id] = append([]string(nil), l...)
	}
	return out
}
