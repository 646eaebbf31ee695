package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/comfylauncher/launcher/agent/internal/store"
)

// KV is the subset of *store.DB the model store uses.
type KV interface {
	Put(bucket, key string, v any) error
	Get(bucket, key string, v any) error
	Delete(bucket, key string) error
	Scan(bucket, prefix string, fn func(key string, raw []byte) error) error
	EnsureBuckets(names ...string) error
}

const bucketModels = "models"

// indexStore persists the index's entries to KV (nil: nothing is persisted). The in-memory
// index is authoritative, so a failed write only costs a re-hash after the next restart: it is
// logged once per streak and reported by health until a write succeeds.
type indexStore struct {
	kv KV
	// log reports the first failed write of a streak; err is that failure until a write
	// succeeds.
	log *slog.Logger
	mu  sync.Mutex
	err error
}

// load returns the persisted entries by path.
func (st *indexStore) load() (map[string]*Entry, error) {
	entries := map[string]*Entry{}
	if st.kv == nil {
		return entries, nil
	}
	if err := st.kv.EnsureBuckets(bucketModels); err != nil {
		return nil, fmt.Errorf("models: ensure bucket: %w", err)
	}
	err := st.kv.Scan(bucketModels, "", func(key string, raw []byte) error {
		var e Entry
		if json.Unmarshal(raw, &e) == nil {
			entries[key] = &e
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("models: load index: %w", err)
	}
	return entries, nil
}

// put persists an entry.
func (st *indexStore) put(e *Entry) {
	if st.kv != nil {
		st.note(st.kv.Put(bucketModels, e.Path, e))
	}
}

// putAller is implemented by *store.DB: many records in one transaction (one fsync).
type putAller interface {
	PutAll(bucket string, records map[string]any) error
}

// putMany persists entries in transactions of 1,000 when the store supports it.
func (st *indexStore) putMany(es []Entry) {
	pa, ok := st.kv.(putAller)
	if !ok {
		for i := range es {
			st.put(&es[i])
		}
		return
	}
	for len(es) > 0 {
		n := min(len(es), 1000)
		m := make(map[string]any, n)
		for i := range es[:n] {
			m[es[i].Path] = &es[i]
		}
		st.note(pa.PutAll(bucketModels, m))
		es = es[n:]
	}
}

// remove deletes a persisted entry; one that was never persisted is not an error.
func (st *indexStore) remove(rel string) {
	if st.kv == nil {
		return
	}
	err := st.kv.Delete(bucketModels, rel)
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	st.note(err)
}

// note records the outcome of a write: a failure is logged once per streak and reported by
// health until a write succeeds.
func (st *indexStore) note(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case err != nil && st.err == nil:
		st.log.Warn("model index not persisted: sources and hashes are recomputed after a restart", "err", err)
	case err == nil && st.err != nil:
		st.log.Info("model index persisted again")
	}
	st.err = err
}

// health reports whether the index reaches the store.
func (st *indexStore) health() (bool, map[string]any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return false, map[string]any{"persisted": false, "error": st.err.Error()}
	}
	return true, map[string]any{"persisted": true}
}
