// Package store is the agent's persistence: one nutsdb database under <data_dir>/db behind a
// small typed API of JSON records in ordered buckets.
//
// nutsdb v1.0.4 has traps this package exists to contain (research/reliability.md §3):
// NewIterator deadlocks the database and CommitWith log.Fatal's on error, so neither is used;
// buckets are created in their own transaction; the segment size is kept small; a torn tail
// that makes Open fail with "crc error" is salvaged; ErrDirLocked means another agent owns the
// directory. Range and prefix scans in v1.0.4 return values only, so every stored value carries
// its key in a small header (see encode). Two more v1.0.4 restart bugs are handled in
// buckets.go: bucket ids restart from 1 and never-written buckets reopen without an index.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/nutsdb/nutsdb"
)

// Bucket names used by the agent.
const (
	BucketProjects = "projects"
	// BucketLauncherJSON holds each project's launcher JSON (key = project id), apart from
	// its record, which changes at every state change.
	BucketLauncherJSON = "launcher_json"
	BucketOps          = "ops"
	BucketLogs         = "logs"
	BucketModels       = "models"
	BucketSettings     = "settings"
	BucketMetrics      = "metrics"
)

// DefaultBuckets are created at Open.
var DefaultBuckets = []string{BucketProjects, BucketLauncherJSON, BucketOps, BucketLogs, BucketModels, BucketSettings, BucketMetrics}

// SegmentSize keeps each data file small enough that merges can run and copies stay cheap.
const SegmentSize = 16 * nutsdb.MB

var (
	// ErrNotFound is returned by Get and Delete for a missing key.
	ErrNotFound = errors.New("not found")
	// ErrLocked means another process holds the database directory.
	ErrLocked = errors.New("another agent is already running")
	// ErrStop may be returned by a scan callback to end the scan early without an error.
	ErrStop = errors.New("stop scan")
)

// LockedError names the directory another agent holds.
type LockedError struct{ Dir string }

func (e *LockedError) Error() string {
	return fmt.Sprintf("another agent is already running on %s", e.Dir)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// DB is an open store.
type DB struct {
	db     *nutsdb.DB
	dir    string
	log    *slog.Logger
	mu     sync.Mutex
	closed bool
	// Salvaged reports the bytes zeroed from a torn tail at open (0 when the file was clean).
	Salvaged int64
}

// Open opens (creating if needed) the database in dir and ensures the default buckets.
func Open(dir string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create store dir: %w", err)
	}
	ndb, err := openNuts(dir)
	var salvaged int64
	if err != nil && errors.Is(err, nutsdb.ErrDirLocked) {
		return nil, &LockedError{Dir: dir}
	}
	if err != nil && strings.Contains(err.Error(), "crc error") {
		// A failed Open leaks its directory lock until the *DB is finalised.
		runtime.GC()
		n, serr := salvageTail(dir)
		if serr != nil {
			return nil, fmt.Errorf("open store: %w (salvage failed: %v; move %s aside to start empty)", err, serr, dir)
		}
		logger.Warn("store: salvaged torn tail of the newest data file", "dir", dir, "bytes_zeroed", n)
		salvaged = n
		runtime.GC()
		ndb, err = openNuts(dir)
	}
	if err != nil {
		if errors.Is(err, nutsdb.ErrDirLocked) {
			return nil, &LockedError{Dir: dir}
		}
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &DB{db: ndb, dir: dir, log: logger, Salvaged: salvaged}
	if err := s.repairBuckets(); err != nil {
		ndb.Close()
		return nil, err
	}
	if err := s.EnsureBuckets(DefaultBuckets...); err != nil {
		ndb.Close()
		return nil, err
	}
	return s, nil
}

// commitBuffer is the transaction buffer nutsdb keeps for the life of the DB. Its default, 4 MB,
// was 4 MB of the agent's idle RSS; our transactions are a few KB (a larger one gets a buffer of
// its own for that commit).
const commitBuffer = 256 << 10

func openNuts(dir string) (*nutsdb.DB, error) {
	return nutsdb.Open(nutsdb.DefaultOptions,
		nutsdb.WithDir(dir),
		nutsdb.WithSyncEnable(true),
		nutsdb.WithSegmentSize(SegmentSize),
		nutsdb.WithCommitBufferSize(commitBuffer),
	)
}

// Dir is the database directory.
func (s *DB) Dir() string { return s.dir }

// Close closes the database; a second call is a no-op.
func (s *DB) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// EnsureBuckets creates missing buckets, each in its own transaction (a bucket created in a
// transaction is not usable inside it), then syncs bucket.Meta and the directory, which nutsdb
// itself does not fsync. A new bucket gets a record at once, so it survives a restart
// readable (see materialize).
func (s *DB) EnsureBuckets(names ...string) error {
	created := false
	for _, name := range names {
		exists := false
		_ = s.db.View(func(tx *nutsdb.Tx) error {
			exists = tx.ExistBucket(nutsdb.DataStructureBTree, name)
			return nil
		})
		if !exists {
			if err := s.db.Update(func(tx *nutsdb.Tx) error {
				return tx.NewBucket(nutsdb.DataStructureBTree, name)
			}); err != nil && !strings.Contains(err.Error(), "already exist") {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
			created = true
			if err := s.materialize(name, true); err != nil {
				return err
			}
		}
	}
	if created {
		syncPath(filepath.Join(s.dir, "bucket.Meta"))
		syncPath(s.dir)
	}
	return nil
}

func syncPath(p string) {
	if f, err := os.Open(p); err == nil {
		_ = f.Sync()
		f.Close()
	}
}

// encode prefixes the JSON value with its key so that scans, which return values only, can
// report keys: uvarint(len(key)) key json.
func encode(key string, v any) ([]byte, error) {
	var payload []byte
	switch b := v.(type) {
	case json.RawMessage:
		payload = b
	default:
		var err error
		payload, err = json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", key, err)
		}
	}
	buf := make([]byte, binary.MaxVarintLen32+len(key)+len(payload))
	n := binary.PutUvarint(buf, uint64(len(key)))
	n += copy(buf[n:], key)
	n += copy(buf[n:], payload)
	return buf[:n], nil
}

func decode(raw []byte) (key string, payload []byte, err error) {
	klen, n := binary.Uvarint(raw)
	if n <= 0 || uint64(len(raw)-n) < klen {
		return "", nil, errors.New("store: corrupt record header")
	}
	return string(raw[n : n+int(klen)]), raw[n+int(klen):], nil
}

// Put stores v as JSON under key.
func (s *DB) Put(bucket, key string, v any) error {
	val, err := encode(key, v)
	if err != nil {
		return err
	}
	if err := s.db.Update(func(tx *nutsdb.Tx) error {
		return tx.Put(bucket, []byte(key), val, nutsdb.Persistent)
	}); err != nil {
		return fmt.Errorf("store put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// PutAll stores several records in one transaction (one fsync).
func (s *DB) PutAll(bucket string, records map[string]any) error {
	vals := make(map[string][]byte, len(records))
	for k, v := range records {
		val, err := encode(k, v)
		if err != nil {
			return err
		}
		vals[k] = val
	}
	if err := s.db.Update(func(tx *nutsdb.Tx) error {
		for k, val := range vals {
			if err := tx.Put(bucket, []byte(k), val, nutsdb.Persistent); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store put %d records in %s: %w", len(records), bucket, err)
	}
	return nil
}

// Get decodes the record under key into v; ErrNotFound when it is absent.
func (s *DB) Get(bucket, key string, v any) error {
	var payload []byte
	err := s.db.View(func(tx *nutsdb.Tx) error {
		raw, err := tx.Get(bucket, []byte(key))
		if err != nil {
			return err
		}
		_, p, err := decode(raw)
		payload = append([]byte(nil), p...)
		return err
	})
	if err != nil {
		if isNotFound(err) {
			return ErrNotFound
		}
		return fmt.Errorf("store get %s/%s: %w", bucket, key, err)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("store decode %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Delete removes key; ErrNotFound when it is absent.
func (s *DB) Delete(bucket, key string) error {
	err := s.db.Update(func(tx *nutsdb.Tx) error { return tx.Delete(bucket, []byte(key)) })
	if err != nil {
		if isNotFound(err) {
			return ErrNotFound
		}
		return fmt.Errorf("store delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

// DeletePrefix removes every key starting with prefix and returns how many it removed.
func (s *DB) DeletePrefix(bucket, prefix string) (int, error) {
	var keys []string
	if err := s.Scan(bucket, prefix, func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return 0, err
	}
	const chunk = 500
	for i := 0; i < len(keys); i += chunk {
		part := keys[i:min(i+chunk, len(keys))]
		if err := s.db.Update(func(tx *nutsdb.Tx) error {
			for _, k := range part {
				if err := tx.Delete(bucket, []byte(k)); err != nil && !isNotFound(err) {
					return err
				}
			}
			return nil
		}); err != nil {
			return i, fmt.Errorf("store delete prefix %s/%s: %w", bucket, prefix, err)
		}
	}
	return len(keys), nil
}

// Scan calls fn for every record whose key starts with prefix, in key order. fn gets the raw
// JSON, valid only during the call. Returning ErrStop ends the scan without error.
func (s *DB) Scan(bucket, prefix string, fn func(key string, raw []byte) error) error {
	return s.ScanPage(bucket, prefix, 0, -1, fn)
}

// ScanPage is Scan over at most limit records after skipping offset (limit < 0: no limit).
func (s *DB) ScanPage(bucket, prefix string, offset, limit int, fn func(key string, raw []byte) error) error {
	if limit == 0 {
		return nil
	}
	var vals [][]byte
	err := s.db.View(func(tx *nutsdb.Tx) error {
		var err error
		if prefix == "" {
			_, vals, err = tx.GetAll(bucket)
			if err == nil {
				vals = window(vals, offset, limit)
			}
			return err
		}
		vals, err = tx.PrefixScan(bucket, []byte(prefix), offset, limitOrAll(limit))
		return err
	})
	if err != nil {
		if isEmptyScan(err) {
			return nil
		}
		return fmt.Errorf("store scan %s/%s: %w", bucket, prefix, err)
	}
	return each(vals, fn)
}

// Range calls fn for every record with start <= key <= end, in key order.
func (s *DB) Range(bucket, start, end string, fn func(key string, raw []byte) error) error {
	var vals [][]byte
	err := s.db.View(func(tx *nutsdb.Tx) error {
		var err error
		vals, err = tx.RangeScan(bucket, []byte(start), []byte(end))
		return err
	})
	if err != nil {
		if isEmptyScan(err) {
			return nil
		}
		return fmt.Errorf("store range %s/[%s,%s]: %w", bucket, start, end, err)
	}
	return each(vals, fn)
}

// Count returns the number of keys starting with prefix.
func (s *DB) Count(bucket, prefix string) (int, error) {
	n := 0
	err := s.db.View(func(tx *nutsdb.Tx) error {
		keys, err := tx.GetKeys(bucket)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if strings.HasPrefix(string(k), prefix) {
				n++
			}
		}
		return nil
	})
	if err != nil && !isEmptyScan(err) && !isNotFound(err) {
		return 0, fmt.Errorf("store count %s/%s: %w", bucket, prefix, err)
	}
	return n, nil
}

// Keys returns the keys starting with prefix, in order.
func (s *DB) Keys(bucket, prefix string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *nutsdb.Tx) error {
		keys, err := tx.GetKeys(bucket)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if strings.HasPrefix(string(k), prefix) {
				out = append(out, string(k))
			}
		}
		return nil
	})
	if err != nil && !isEmptyScan(err) && !isNotFound(err) {
		return nil, fmt.Errorf("store keys %s/%s: %w", bucket, prefix, err)
	}
	return out, nil
}

func each(vals [][]byte, fn func(string, []byte) error) error {
	for _, raw := range vals {
		k, p, err := decode(raw)
		if err != nil {
			return err
		}
		if err := fn(k, p); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func window(vals [][]byte, offset, limit int) [][]byte {
	if offset >= len(vals) {
		return nil
	}
	vals = vals[offset:]
	if limit >= 0 && limit < len(vals) {
		vals = vals[:limit]
	}
	return vals
}

func limitOrAll(limit int) int {
	if limit < 0 {
		return int(^uint(0) >> 1)
	}
	return limit
}

func isNotFound(err error) bool {
	return errors.Is(err, nutsdb.ErrKeyNotFound) || errors.Is(err, nutsdb.ErrNotFoundKey) ||
		strings.Contains(err.Error(), "key not found")
}

// isEmptyScan: v1.0.4 reports an empty scan as an error rather than an empty result.
func isEmptyScan(err error) bool {
	return errors.Is(err, nutsdb.ErrRangeScan) || errors.Is(err, nutsdb.ErrPrefixScan) ||
		strings.Contains(err.Error(), "scans not found")
}
