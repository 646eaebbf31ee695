// Command hostile is a misbehaving WASM extension for the host's tests: what it does depends
// on the strategy input's message.
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

func (hostile) Decide(_ context.Context, in sdk.StrategyInput) (sdk.StrategyDecision, error) {
	switch in.Message {
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
}

func main() {}
