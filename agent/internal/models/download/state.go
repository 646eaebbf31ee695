package download

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/comfylauncher/launcher/agent/internal/atomicfile"
)

// State is what a download persists between attempts and across agent restarts. It is saved
// before the first body byte of a response is written (URL, validator, size) and at every
// checkpoint, always after the .part file was fsynced, so Offset and segment counts are a lower
// bound of the bytes durably on disk.
type State struct {
	URL      string `json:"url"`
	FinalURL string `json:"final_url,omitempty"`
	// Validator is the strong ETag of the final response, or its Last-Modified when the ETag is
	// weak or absent. Without one, partial bytes are never trusted.
	Validator string `json:"validator,omitempty"`
	// LinkedETag is HuggingFace's X-Linked-Etag (the LFS sha256), kept for update checks.
	LinkedETag   string `json:"linked_etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	// Size is the total length, -1 while unknown.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Offset is the length of the file's prefix the sha256 state Hash (108 bytes) covers, so
	// a resume hashes only what lies beyond it. (A checkpoint of an agent before segments
	// were universal has Offset and no Segments: it reads as one segment done to Offset.)
	Offset int64  `json:"offset"`
	Hash   []byte `json:"hash,omitempty"`
	// Segments are the byte ranges of the file, each with its synced prefix; a download
	// over one connection has one. Empty until the first response was seen.
	Segments []Segment `json:"segments,omitempty"`
	// Counters of the rules that cap pathological servers.
	Restarts   int `json:"restarts,omitempty"`
	BadRanges  int `json:"bad_ranges,omitempty"`
	Mismatches int `json:"mismatches,omitempty"`
}

// Segment is the byte range [Start, End) of a download (End -1: up to the end of a body of
// unknown length); Done bytes from Start are synced to disk.
type Segment struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	Done  int64 `json:"done"`
}

// reset forgets everything about the partial bytes: the next attempt starts at zero.
func (s *State) reset() {
	s.Validator, s.LinkedETag, s.LastModified = "", "", ""
	s.Size = -1
	s.Offset = 0
	s.Hash = nil
	s.Segments = nil
}

// Checkpointer persists a State. A recovery operation's SaveCheckpoint/LoadCheckpoint pair fits
// it through OpCheckpointer; FileState keeps it in a JSON file next to the partial.
type Checkpointer interface {
	Save(State) error
	// Load fills s and reports whether a saved state existed.
	Load(s *State) (bool, error)
}

// FileState is a Checkpointer writing the state atomically to a JSON file (temp, fsync, rename).
type FileState string

// Save writes the state.
func (p FileState) Save(s State) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode download state: %w", err)
	}
	if err := atomicfile.Write(string(p), data, 0o644); err != nil {
		return fmt.Errorf("save download state: %w", err)
	}
	return nil
}

// Load reads the state; a missing file is (false, nil).
func (p FileState) Load(s *State) (bool, error) {
	data, err := os.ReadFile(string(p))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load download state: %w", err)
	}
	if err := json.Unmarshal(data, s); err != nil {
		// A torn state file means we cannot trust the partial: start over rather than fail.
		return false, nil
	}
	return true, nil
}

// OpCheckpoints is the part of a recovery operation a download checkpoints through.
type OpCheckpoints interface {
	SaveCheckpoint(v any) error
	LoadCheckpoint(v any) (bool, error)
}

// OpCheckpointer adapts a recovery operation to Checkpointer.
type OpCheckpointer struct{ Op OpCheckpoints }

// Save stores the state as the operation's checkpoint.
func (c OpCheckpointer) Save(s State) error { return c.Op.SaveCheckpoint(s) }

// Load reads the operation's checkpoint.
func (c OpCheckpointer) Load(s *State) (bool, error) { return c.Op.LoadCheckpoint(s) }

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }
