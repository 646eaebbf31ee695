package recovery

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// memStore is an in-memory Store with the real store's JSON and key-order semantics. The
// self-test scenarios use it so they never write the node's database; tests use it too.
type memStore struct {
	mu      sync.Mutex
	buckets map[string]map[string][]byte
	// failPut, when set, makes Put return it (to test persistence failures).
	failPut error
	puts    int
}

func newMemStore() *memStore { return &memStore{buckets: map[string]map[string][]byte{}} }

func (m *memStore) EnsureBuckets(names ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range names {
		if m.buckets[n] == nil {
			m.buckets[n] = map[string][]byte{}
		}
	}
	return nil
}

func (m *memStore) Put(bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPut != nil {
		return m.failPut
	}
	bk, ok := m.buckets[bucket]
	if !ok {
		return fmt.Errorf("bucket %s does not exist", bucket)
	}
	bk[key] = b
	m.puts++
	return nil
}

func (m *memStore) Delete(bucket, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.buckets[bucket], key)
	return nil
}

func (m *memStore) Scan(bucket, prefix string, fn func(key string, raw []byte) error) error {
	m.mu.Lock()
	bk := m.buckets[bucket]
	var keys []string
	for k := range bk {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = bk[k]
	}
	m.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) get(bucket, key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[bucket][key]
	return b, ok
}
