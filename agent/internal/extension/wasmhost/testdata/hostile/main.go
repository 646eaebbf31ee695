// Command hostile is a misbehaving WASM recovery strategy for tests: what it does depends on
// the keyword ("hostile-loop", "hostile-oom", ...) in the failure's message; any other failure
// is "not mine".
package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	wasm "github.com/comfylauncher/launcher/sdk/wasm"
)

type hostile struct{}

var keep [][]byte

// keyword is what follows "hostile-" in s, up to a separator.
func keyword(s string) string {
	i := strings.Index(s, "hostile-")
	if i < 0 {
		return ""
	}
	kw := s[i+len("hostile-"):]
	if j := strings.IndexAny(kw, "/ .\"'"); j >= 0 {
		kw = kw[:j]
	}
	return kw
}

// ResolveModel misbehaves like Decide for references and model names with a keyword.
func (h hostile) ResolveModel(ctx context.Context, req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	if keyword(req.Reference+" "+req.Query.Name) == "" {
		return sdk.ResolveResponse{}, nil
	}
	_, err := h.Decide(ctx, sdk.StrategyInput{Message: req.Reference + " " + req.Query.Name})
	return sdk.ResolveResponse{}, err
}

func (hostile) Decide(_ context.Context, in sdk.StrategyInput) (sdk.StrategyDecision, error) {
	switch keyword(in.Message) {
	case "":
		return sdk.StrategyDecision{NotMine: true}, nil
	case "loop":
		n := 0
		for {
			n++
		}
	case "oom":
		for {
			keep = append(keep, make([]byte, 1<<20))
		}
	case "panic":
		panic("boom")
	case "big":
		return sdk.StrategyDecision{Suggestion: strings.Repeat("x", 2<<20)}, nil
	case "exit":
		os.Exit(3)
	case "error":
		return sdk.StrategyDecision{}, &sdk.Error{Code: "nope", Message: "refused on purpose", Retryable: true}
	case "sandbox":
		_, err := os.ReadFile("/etc/passwd")
		return sdk.StrategyDecision{Suggestion: "year=" + strconv.Itoa(time.Now().Year()) + " home=" + os.Getenv("HOME") + " read_err=" + strconv.FormatBool(err != nil)}, nil
	case "log":
		wasm.Log(0, "hello from the guest")
		println("to stderr")
	}
	return sdk.StrategyDecision{Class: "echo:" + in.Message, Retry: true}, nil
}

func init() {
	wasm.SetInfo("hostile", "0.0.1")
	wasm.RegisterStrategy(hostile{})
	wasm.RegisterSource(hostile{})
}

func main() {}
