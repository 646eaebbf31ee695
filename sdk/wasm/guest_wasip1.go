package wasm

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"unsafe"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	"github.com/comfylauncher/launcher/sdk/internal/abijson"
)

//go:wasmimport cmfy input_read
func hostInputRead(ptr unsafe.Pointer)

//go:wasmimport cmfy output_write
func hostOutputWrite(ptr unsafe.Pointer, n uint32)

//go:wasmimport cmfy log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

var (
	name, version string
	parser        sdk.WorkflowParser
	source        sdk.ModelSource
	strategy      sdk.RecoveryStrategy
	configure     func(config json.RawMessage) error
)

// SetInfo names the extension in its manifest.
func SetInfo(extName, extVersion string) { name, version = extName, extVersion }

// RegisterParser makes p the module's workflow parser.
func RegisterParser(p sdk.WorkflowParser) { parser = p }

// RegisterSource makes s the module's model source.
func RegisterSource(s sdk.ModelSource) { source = s }

// RegisterStrategy makes s the module's recovery strategy.
func RegisterStrategy(s sdk.RecoveryStrategy) { strategy = s }

// OnInit registers fn to receive the extension's config table (launcher.toml
// [[extensions]].config, as JSON) when an instance starts; decode it with
// extension.DecodeConfig, which refuses unknown keys. An error refuses the extension.
func OnInit(fn func(config json.RawMessage) error) { configure = fn }

// Log writes a record to the agent's log, tagged with the extension.
func Log(level slog.Level, msg string) {
	if msg == "" {
		return
	}
	b := []byte(msg)
	hostLog(int32(level), unsafe.Pointer(&b[0]), uint32(len(b)))
	runtime.KeepAlive(b)
}

//go:wasmexport cmfy_abi_version
func abiVersion() uint32 { return sdk.ABIVersion }

//go:wasmexport cmfy_init
func cmfyInit(n uint32) uint32 {
	return handle(n, func(in []byte) (sdk.Manifest, error) {
		var req sdk.InitRequest
		if err := abijson.Decode(in, &req); err != nil {
			return sdk.Manifest{}, &sdk.Error{Code: "bad_request", Message: err.Error()}
		}
		if configure != nil {
			if err := configure(req.Config); err != nil {
				return sdk.Manifest{}, err
			}
		}
		m := sdk.Manifest{Name: name, Version: version, ABIMinor: sdk.ABIMinor, Capabilities: []sdk.Capability{}}
		if parser != nil {
			m.Capabilities = append(m.Capabilities, sdk.CapWorkflowParser)
		}
		if source != nil {
			m.Capabilities = append(m.Capabilities, sdk.CapModelSource)
		}
		if strategy != nil {
			m.Capabilities = append(m.Capabilities, sdk.CapRecoveryStrategy)
		}
		return m, nil
	})
}

//go:wasmexport cmfy_workflow_parse
func cmfyParse(n uint32) uint32 {
	return serve(n, sdk.CapWorkflowParser, parser != nil, func(req sdk.ParseRequest) (sdk.ParseResult, error) {
		return parser.ParseWorkflow(ctx, req)
	})
}

//go:wasmexport cmfy_model_resolve
func cmfyResolve(n uint32) uint32 {
	return serve(n, sdk.CapModelSource, source != nil, func(req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
		return source.ResolveModel(ctx, req)
	})
}

//go:wasmexport cmfy_recovery_classify
func cmfyClassify(n uint32) uint32 {
	return serve(n, sdk.CapRecoveryStrategy, strategy != nil, func(req sdk.StrategyInput) (sdk.StrategyDecision, error) {
		return strategy.Decide(ctx, req)
	})
}

// serve decodes a capability's request and runs fn, when the capability is registered.
func serve[Req, Resp any](n uint32, c sdk.Capability, registered bool, fn func(Req) (Resp, error)) uint32 {
	return handle(n, func(in []byte) (Resp, error) {
		var req Req
		if !registered {
			return *new(Resp), notRegistered(c)
		}
		if err := abijson.Decode(in, &req); err != nil {
			return *new(Resp), &sdk.Error{Code: "bad_request", Message: err.Error()}
		}
		return fn(req)
	})
}

func notRegistered(c sdk.Capability) error {
	return &sdk.Error{Code: "not_registered", Message: fmt.Sprintf("this module registers no %s", c)}
}

// handle is every export's body: read the input, run fn, write its JSON result (status 0) or
// its error (status 1). A panic in fn becomes {"code":"panic"}: the instance stays usable.
//
// The JSON goes through abijson (what encoding/json gives, without its reflection, which costs
// a guest more than a hundred microseconds a call), and the input and output buffers are kept
// from call to call: an instance runs one call at a time, decoding copies what it keeps, and
// the host copies the output before the next call.
func handle[Resp any](n uint32, fn func(in []byte) (Resp, error)) (status uint32) {
	defer func() {
		if p := recover(); p != nil {
			status = writeError(&sdk.Error{Code: "panic", Message: fmt.Sprint(p)})
		}
	}()
	in := inBuf.get(int(n))
	if n > 0 {
		hostInputRead(unsafe.Pointer(&in[0]))
	}
	out, err := fn(in)
	if err != nil {
		return writeError(err)
	}
	b, err := abijson.Append(outBuf.get(0), &out)
	if err != nil {
		return writeError(&sdk.Error{Code: "encode", Message: err.Error()})
	}
	write(b)
	outBuf.keep(b)
	return sdk.StatusOK
}

func writeError(err error) uint32 {
	e, ok := err.(*sdk.Error)
	if !ok {
		e = &sdk.Error{Code: "error", Message: err.Error()}
	}
	b, _ := abijson.Append(outBuf.get(0), e)
	write(b)
	outBuf.keep(b)
	return sdk.StatusError
}

func write(b []byte) {
	if len(b) == 0 {
		return
	}
	hostOutputWrite(unsafe.Pointer(&b[0]), uint32(len(b)))
	runtime.KeepAlive(b)
}

// maxKeptBuffer is the largest buffer kept for the next call; a rare huge request or answer
// does not pin its memory for the instance's life.
const maxKeptBuffer = 1 << 20

// buffer is a byte slice reused from call to call.
type buffer struct{ b []byte }

var inBuf, outBuf buffer

// get returns a slice of n bytes (contents undefined), the kept one when it is large enough.
func (k *buffer) get(n int) []byte {
	if cap(k.b) < n {
		b := make([]byte, n)
		if n <= maxKeptBuffer {
			k.b = b
		}
		return b
	}
	return k.b[:n]
}

// keep remembers b, which grew from get's slice, for the next call.
func (k *buffer) keep(b []byte) {
	if cap(b) <= maxKeptBuffer {
		k.b = b[:0]
	}
}
