package wasm

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"unsafe"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
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
	return handle(n, func(in []byte) (any, error) {
		var req sdk.InitRequest
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, &sdk.Error{Code: "bad_request", Message: err.Error()}
		}
		if configure != nil {
			if err := configure(req.Config); err != nil {
				return nil, err
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
	return serve(n, sdk.CapWorkflowParser, parser != nil, func(req sdk.ParseRequest) (any, error) {
		return parser.ParseWorkflow(ctx, req)
	})
}

//go:wasmexport cmfy_model_resolve
func cmfyResolve(n uint32) uint32 {
	return serve(n, sdk.CapModelSource, source != nil, func(req sdk.ResolveRequest) (any, error) {
		return source.ResolveModel(ctx, req)
	})
}

//go:wasmexport cmfy_recovery_classify
func cmfyClassify(n uint32) uint32 {
	return serve(n, sdk.CapRecoveryStrategy, strategy != nil, func(req sdk.StrategyInput) (any, error) {
		return strategy.Decide(ctx, req)
	})
}

// serve decodes a capability's request and runs fn, when the capability is registered.
func serve[Req any](n uint32, c sdk.Capability, registered bool, fn func(Req) (any, error)) uint32 {
	return handle(n, func(in []byte) (any, error) {
		if !registered {
			return nil, notRegistered(c)
		}
		var req Req
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, &sdk.Error{Code: "bad_request", Message: err.Error()}
		}
		return fn(req)
	})
}

func notRegistered(c sdk.Capability) error {
	return &sdk.Error{Code: "not_registered", Message: fmt.Sprintf("this module registers no %s", c)}
}

// handle is every export's body: read the input, run fn, write its JSON result (status 0) or
// its error (status 1). A panic in fn becomes {"code":"panic"}: the instance stays usable.
func handle(n uint32, fn func(in []byte) (any, error)) (status uint32) {
	defer func() {
		if p := recover(); p != nil {
			status = writeError(&sdk.Error{Code: "panic", Message: fmt.Sprint(p)})
		}
	}()
	in := make([]byte, n)
	if n > 0 {
		hostInputRead(unsafe.Pointer(&in[0]))
	}
	out, err := fn(in)
	if err != nil {
		return writeError(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return writeError(&sdk.Error{Code: "encode", Message: err.Error()})
	}
	write(b)
	return sdk.StatusOK
}

func writeError(err error) uint32 {
	e, ok := err.(*sdk.Error)
	if !ok {
		e = &sdk.Error{Code: "error", Message: err.Error()}
	}
	b, _ := json.Marshal(e)
	write(b)
	return sdk.StatusError
}

func write(b []byte) {
	if len(b) == 0 {
		return
	}
	hostOutputWrite(unsafe.Pointer(&b[0]), uint32(len(b)))
	runtime.KeepAlive(b)
}
