package recovery

import (
	"encoding/json"
	"sort"
	"sync"
)

// definitions are the registered operation types, by name.
type definitions struct {
	mu sync.Mutex
	m  map[string]*Definition
}

// add registers def. It panics on a duplicate or empty definition: that is a programming
// error found at startup.
func (d *definitions) add(def Definition) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if def.Name == "" || len(def.Steps) == 0 {
		panic("recovery: Register needs a name and at least one step")
	}
	if _, ok := d.m[def.Name]; ok {
		panic("recovery: duplicate definition " + def.Name)
	}
	cp := def
	d.m[def.Name] = &cp
}

// get returns the definition of name, or nil.
func (d *definitions) get(name string) *Definition {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[name]
}

// names lists the registered names as a JSON array, for error messages.
func (d *definitions) names() string {
	d.mu.Lock()
	var names []string
	for n := range d.m {
		names = append(names, n)
	}
	d.mu.Unlock()
	sort.Strings(names)
	if len(names) == 0 {
		return "(none registered)"
	}
	b, _ := json.Marshal(names)
	return string(b)
}
