package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/nutsdb/nutsdb"
)

// nutsdb v1.0.4 forgets two things about buckets when it reopens a database; this file puts
// them back so that every bucket works the same before and after a restart.

// errRollback aborts the transaction repairBuckets uses only to advance the id generator.
var errRollback = errors.New("store: roll back")

// repairBuckets runs at Open, before anything else uses the database.
//
// It advances nutsdb's bucket id generator past every id in bucket.Meta: v1.0.4 restarts the
// generator at 0 on every Open, so a bucket created after a restart would get id 1 again and
// share its records with the first bucket ever created. NewBucket draws an id even in a
// transaction that is rolled back, which is how the ids are skipped without writing anything.
//
// Then it materializes every existing bucket (see materialize).
func (s *DB) repairBuckets() error {
	maxID, names, err := readBucketMeta(filepath.Join(s.dir, nutsdb.BucketStoreFileName))
	if err != nil {
		return err
	}
	if maxID > 0 {
		err = s.db.Update(func(tx *nutsdb.Tx) error {
			for i := uint64(0); i < maxID; i++ {
				if err := tx.NewBucket(nutsdb.DataStructureBTree, fmt.Sprintf("\x00reserved-%d", i)); err != nil {
					return err
				}
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			return fmt.Errorf("reserve bucket ids: %w", err)
		}
	}
	for _, name := range names {
		if err := s.materialize(name, false); err != nil {
			return err
		}
	}
	return nil
}

// readBucketMeta returns the largest bucket id recorded in bucket.Meta (0 when there is none)
// and the names of the B-tree buckets that exist. The file is a sequence of records: a
// BucketMeta header (crc, op, payload size) and a payload that nutsdb.Bucket decodes.
func readBucketMeta(path string) (maxID uint64, names []string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read bucket ids: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	header := make([]byte, nutsdb.BucketMetaSize)
	exists := map[string]bool{}
	for {
		if _, err := io.ReadFull(r, header); err != nil {
			break // nutsdb's own reader stops at a short tail the same way
		}
		var meta nutsdb.BucketMeta
		meta.Decode(header)
		payload := make([]byte, meta.Size)
		if _, err := io.ReadFull(r, payload); err != nil {
			break
		}
		var b nutsdb.Bucket
		if err := b.Decode(payload); err != nil {
			return 0, nil, fmt.Errorf("read bucket ids from %s: %w", path, err)
		}
		maxID = max(maxID, b.Id)
		if b.Ds == nutsdb.DataStructureBTree {
			exists[b.Name] = meta.Op != nutsdb.BucketDeleteOperation
		}
	}
	for name, ok := range exists {
		if ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return maxID, names, nil
}

// probeKey is written and deleted by materialize; it is never left in a bucket.
const probeKey = "\x00store-probe"

// materialize makes bucket's in-memory index exist. v1.0.4 rebuilds indexes at Open from the
// data files only, so a bucket that holds no record (created and never written, or emptied and
// merged) comes back from a restart listed in bucket.Meta but without an index: Get, Delete
// and scans then fail with "bucket not found" while Put still works. Writing and deleting a
// probe key leaves records in the data file, so the index exists now and is rebuilt at every
// later Open (until a merge drops both, which the check at the next Open repairs). force
// writes the probe without checking first, for a bucket just created.
func (s *DB) materialize(bucket string, force bool) error {
	if !force {
		err := s.db.View(func(tx *nutsdb.Tx) error {
			_, err := tx.Get(bucket, []byte(probeKey))
			return err
		})
		if !errors.Is(err, nutsdb.ErrNotFoundBucket) {
			return nil // the index exists: a missing probe is the expected answer
		}
	}
	if err := s.db.Update(func(tx *nutsdb.Tx) error {
		return tx.Put(bucket, []byte(probeKey), []byte{0}, nutsdb.Persistent)
	}); err != nil {
		return fmt.Errorf("materialize bucket %s: %w", bucket, err)
	}
	if err := s.db.Update(func(tx *nutsdb.Tx) error {
		return tx.Delete(bucket, []byte(probeKey))
	}); err != nil {
		return fmt.Errorf("materialize bucket %s: %w", bucket, err)
	}
	return nil
}
