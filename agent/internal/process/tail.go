package process

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// maxLine caps one log line; longer lines (progress bars without newlines) are split.
const maxLine = 64 << 10

// tailer follows a run log file that the child writes. It polls instead of using inotify:
// one read() per interval is cheap and works for any filesystem.
type tailer struct {
	// emitMu orders emission between the tail loop and the final read; mu guards the file
	// and the state below but is never held while a hook runs, so hooks may call Get.
	emitMu  sync.Mutex
	mu      sync.Mutex
	f       *os.File
	offset  int64 // end of the last complete line handed out
	partial []byte
	last    []string // ring of the last lines, oldest first
	keep    int
	lv      leveler
	emit    func(line LogLine)
	pending []LogLine // lines read but not yet emitted
	clock   Clock
	// serverUp is closed when ComfyUI logs that it has bound its port, so the readiness probe
	// does not wait for its next tick.
	serverUp chan struct{}
	upClosed bool
}

func newTailer(path string, offset int64, keep int, clock Clock, emit func(LogLine)) (*tailer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open run log: %w", err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("seek run log: %w", err)
		}
	}
	return &tailer{f: f, offset: offset, keep: keep, clock: clock, emit: emit, serverUp: make(chan struct{})}, nil
}

// poll reads what was appended since the last call and emits complete lines. With final set
// (the writer is gone) a trailing line without newline is emitted too.
func (t *tailer) poll(final bool) {
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	t.mu.Lock()
	if t.f != nil {
		buf := make([]byte, 32<<10)
		for {
			n, err := t.f.Read(buf)
			if n > 0 {
				t.partial = append(t.partial, buf[:n]...)
				t.drainLines()
			}
			if err != nil || n < len(buf) {
				break
			}
		}
		if final && len(t.partial) > 0 {
			t.line(string(t.partial))
			t.offset += int64(len(t.partial))
			t.partial = t.partial[:0]
		}
	}
	lines := t.pending
	t.pending = nil
	t.mu.Unlock()
	if t.emit != nil {
		for _, l := range lines {
			t.emit(l)
		}
	}
}

// drainLines takes every complete line of t.partial. Callers hold t.mu.
func (t *tailer) drainLines() {
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			if len(t.partial) >= maxLine {
				i = maxLine
				t.line(string(t.partial[:i]))
				t.offset += int64(i)
				t.partial = t.partial[i:]
				continue
			}
			return
		}
		t.line(string(t.partial[:i]))
		t.offset += int64(i + 1)
		t.partial = t.partial[i+1:]
	}
}

// line records one line; callers hold t.mu.
func (t *tailer) line(s string) {
	s = strings.TrimRight(s, "\r")
	// tqdm-style progress redraws use \r: keep the latest state only.
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	if len(t.last) >= t.keep {
		copy(t.last, t.last[1:])
		t.last = t.last[:len(t.last)-1]
	}
	t.last = append(t.last, s)
	if !t.upClosed && (strings.Contains(s, "To see the GUI go to:") || strings.Contains(s, "Starting server")) {
		t.upClosed = true
		close(t.serverUp)
	}
	if t.emit != nil {
		t.pending = append(t.pending, LogLine{Time: t.clock.Now(), Level: t.lv.level(s), Message: s})
	}
}

// lastLines returns a copy of the retained lines.
func (t *tailer) lastLines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.last...)
}

// pos is the offset up to which lines were handed out.
func (t *tailer) pos() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.offset
}

func (t *tailer) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}
