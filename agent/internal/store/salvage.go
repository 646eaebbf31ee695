package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nutsdb/nutsdb"
)

// salvageTail makes a database whose newest data file ends in a torn or garbage entry
// openable again. nutsdb v1.0.4 refuses to open with "crc error" instead of treating a bad
// tail as the end of the log; we walk the newest file with nutsdb's own entry decoder and zero
// everything from the first entry that does not verify. Only the newest file can have been
// torn by a crash; it returns the number of bytes zeroed.
func salvageTail(dir string) (int64, error) {
	path, err := newestDataFile(dir)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	bad, err := firstBadOffset(f, size)
	if err != nil {
		return 0, err
	}
	if bad < 0 {
		return 0, errors.New("no torn entry found in the newest data file; the damage is elsewhere")
	}
	// Only chunks holding data are rewritten, so the preallocated sparse rest stays sparse.
	zeros := make([]byte, 64<<10)
	chunk := make([]byte, len(zeros))
	for off := bad; off < size; {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.ReadAt(chunk[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if !allZero(chunk[:n]) {
			if _, err := f.WriteAt(zeros[:n], off); err != nil {
				return 0, fmt.Errorf("zero torn tail: %w", err)
			}
		}
		off += n
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return size - bad, nil
}

// firstBadOffset returns the offset of the first entry that fails to decode or verify, or -1
// when the file is consistent up to its zero-filled end.
func firstBadOffset(f *os.File, size int64) (int64, error) {
	var off int64
	header := make([]byte, nutsdb.MaxEntryHeaderSize)
	for off < size {
		n := min(int64(len(header)), size-off)
		if _, err := f.ReadAt(header[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		e := &nutsdb.Entry{}
		headerSize, err := e.ParseMeta(header[:n])
		if err != nil {
			if allZero(header[:n]) {
				return -1, nil
			}
			return off, nil
		}
		if e.IsZero() {
			// Preallocated space: the log ends here unless garbage follows.
			if allZero(header[:n]) {
				return -1, nil
			}
			return off, nil
		}
		payload := int64(e.Meta.KeySize) + int64(e.Meta.ValueSize)
		if headerSize <= 0 || off+headerSize+payload > size {
			return off, nil
		}
		data := make([]byte, payload)
		if _, err := f.ReadAt(data, off+headerSize); err != nil {
			return off, nil
		}
		if err := e.ParsePayload(data); err != nil || e.GetCrc(header[:headerSize]) != e.Meta.Crc {
			return off, nil
		}
		off += headerSize + payload
	}
	return -1, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func newestDataFile(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	best := int64(-1)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, nutsdb.DataSuffix) {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSuffix(name, nutsdb.DataSuffix), 10, 64)
		if err == nil && id > best {
			best = id
		}
	}
	if best < 0 {
		return "", errors.New("no data files")
	}
	return filepath.Join(dir, strconv.FormatInt(best, 10)+nutsdb.DataSuffix), nil
}
