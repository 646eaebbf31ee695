package wasmhost

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
)

// callState is one call's request and response; it travels in the context passed to the
// export so one host module serves every instance.
type callState struct {
	input    []byte
	output   []byte
	maxOut   int
	overflow int
}

type stateKey struct{}

func withState(ctx context.Context, st *callState) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

func stateOf(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	return st
}

// loggerKey carries the extension's logger to the log import.
type loggerKey struct{}

// instantiateHostModule defines the "cmfy" imports: input_read, output_write and log.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(sdk.ImportModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(inputRead), []api.ValueType{api.ValueTypeI32}, nil).Export(sdk.ImportInputRead).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(outputWrite), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, nil).Export(sdk.ImportOutputWrite).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(guestLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).Export(sdk.ImportLog).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate host module: %w", err)
	}
	return nil
}

// inputRead copies the call's request into guest memory at ptr. A write outside memory traps.
func inputRead(ctx context.Context, mod api.Module, stack []uint64) {
	st := stateOf(ctx)
	if st == nil {
		panic("cmfy.input_read called outside a call")
	}
	if !mod.Memory().Write(api.DecodeU32(stack[0]), st.input) {
		panic("cmfy.input_read: buffer outside guest memory")
	}
}

// outputWrite copies len bytes at ptr as the call's output (last write wins). Over the limit it
// panics, which traps the guest: the instance is discarded.
func outputWrite(ctx context.Context, mod api.Module, stack []uint64) {
	st := stateOf(ctx)
	if st == nil {
		panic("cmfy.output_write called outside a call")
	}
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	if int(n) > st.maxOut {
		st.overflow = int(n)
		panic(fmt.Sprintf("cmfy.output_write: %d bytes over the %d-byte limit", n, st.maxOut))
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		panic("cmfy.output_write: buffer outside guest memory")
	}
	st.output = append(st.output[:0], b...) // Read is a view: copy before the guest runs on
}

// maxLogLine caps one guest log line; maxLogLines caps the lines one call may log (a guest
// printing in a loop must not flood the agent's log before its deadline kills it).
const (
	maxLogLine  = 4096
	maxLogLines = 100
)

func guestLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := int32(api.DecodeU32(stack[0])), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	b, ok := mod.Memory().Read(ptr, min(n, maxLogLine))
	if !ok {
		return
	}
	log, _ := ctx.Value(loggerKey{}).(*slog.Logger)
	if log == nil {
		return
	}
	log.Log(ctx, slog.Level(level), string(b), "stream", "log")
}

// lineWriter turns a guest's stdout or stderr into one slog record per line and remembers,
// per call, the line that explains a crash (Go prints "panic: ...", "fatal error: ..." or
// "runtime: out of memory ..." before its stack trace).
type lineWriter struct {
	log    *slog.Logger
	stream string

	mu       sync.Mutex
	buf      []byte
	headline string
	last     string
	lines    int
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLogLine {
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

var crashPrefixes = []string{"panic:", "fatal error:", "runtime: out of memory", "runtime:"}

func (w *lineWriter) emit(line string) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	if len(line) > maxLogLine {
		line = line[:maxLogLine]
	}
	w.last = line
	if w.headline == "" {
		for _, p := range crashPrefixes {
			if strings.HasPrefix(line, p) {
				w.headline = line
				break
			}
		}
	}
	w.lines++
	switch {
	case w.lines <= maxLogLines:
		w.log.Warn("guest output", "stream", w.stream, "line", line)
	case w.lines == maxLogLines+1:
		w.log.Warn("guest output truncated", "stream", w.stream, "after_lines", maxLogLines)
	}
}

// reset forgets what earlier calls printed.
func (w *lineWriter) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.headline, w.last, w.lines = "", "", 0
}

// tail is " (guest stderr: <the crash's headline or last line>)" or "".
func (w *lineWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	line := w.headline
	if line == "" {
		line = w.last
	}
	if line == "" {
		return ""
	}
	return " (guest stderr: " + strings.TrimSpace(line) + ")"
}
