// Command testplugin is a plugin for the plugin host's tests. It writes "<its path>.ran" when
// it starts (so a test can prove a binary never ran) and behaves according to the reference
// it is asked to resolve: "panic", "hang" (ignores its deadline), "block" (logs "blocked" and
// waits for its deadline), "env" (returns its environment as headers), "exit"; anything else
// resolves to a candidate named after the query. Run under another name it is one of the
// personas (personas.go).
package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	"github.com/comfylauncher/launcher/sdk/plugin"
)

type config struct {
	// CrashOnRestart: exit with status 3 when this file exists; create it otherwise. The first
	// start succeeds, every restart crashes.
	CrashOnRestart string `json:"crash_on_restart"`
	FailConfigure  bool   `json:"fail_configure"`
	TokenEnv       string `json:"token_env"`
}

var log = plugin.Logger()

type ext struct{}

func (ext) configure(_ context.Context, req sdk.InitRequest) error {
	var c config
	if err := sdk.DecodeConfig(req.Config, &c); err != nil {
		return err
	}
	if c.FailConfigure {
		return &sdk.Error{Code: "bad_config", Message: "fail_configure is set"}
	}
	if c.CrashOnRestart != "" {
		if _, err := os.Stat(c.CrashOnRestart); err == nil {
			os.Stderr.WriteString("crashing on purpose\n")
			os.Exit(3)
		}
		if err := os.WriteFile(c.CrashOnRestart, nil, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (ext) ResolveModel(ctx context.Context, req sdk.ResolveRequest) (sdk.ResolveResponse, error) {
	log.Info("resolving", "reference", req.Reference, "name", req.Query.Name)
	switch req.Reference {
	case "panic":
		panic("resolver exploded")
	case "hang":
		select {}
	case "block":
		log.Info("blocked")
		<-ctx.Done()
		return sdk.ResolveResponse{}, ctx.Err()
	case "exit":
		os.Exit(4)
	case "error":
		return sdk.ResolveResponse{}, &sdk.Error{Code: "not_found", Message: "no such model", Retryable: true}
	case "plainerror":
		return sdk.ResolveResponse{}, errors.New("plain failure")
	case "env":
		h := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			h[k] = v
		}
		return sdk.ResolveResponse{Candidates: []sdk.Download{{ModelCandidate: sdk.ModelCandidate{Source: "test", URL: "env"}, Headers: h}}}, nil
	}
	return sdk.ResolveResponse{Candidates: []sdk.Download{{
		ModelCandidate: sdk.ModelCandidate{Source: "test", URL: "https://models.example/" + req.Query.Name, Filename: req.Query.Name,
			Folder: req.Query.Folder, SHA256: req.Query.SHA256, Size: 42, Reference: req.Reference, Confidence: 0.5},
		Headers: map[string]string{"X-Test": "1"}}}}, nil
}

func (ext) ParseWorkflow(_ context.Context, req sdk.ParseRequest) (sdk.ParseResult, error) {
	var out sdk.ParseResult
	for _, n := range req.Nodes {
		if n.Type != "HouseLoader" {
			continue
		}
		name, _ := n.Inputs["ckpt"].(string)
		out.Models = append(out.Models, sdk.ModelRef{Filename: name, Folder: "checkpoints", NodeID: n.ID, NodeType: n.Type, Input: "ckpt"})
	}
	if len(out.Models) > 0 {
		out.Tags = []string{"house"}
	}
	return out, nil
}

func (ext) Decide(_ context.Context, in sdk.StrategyInput) (sdk.StrategyDecision, error) {
	if !strings.Contains(in.Message, "house registry") {
		return sdk.StrategyDecision{NotMine: true}, nil
	}
	return sdk.StrategyDecision{Retry: true, DelaySeconds: 1.5, Class: "network", Suggestion: "check the house registry"}, nil
}

func main() {
	if serve, ok := personas[filepath.Base(os.Args[0])]; ok {
		serve()
		return
	}
	if self, err := os.Executable(); err == nil {
		f, _ := os.OpenFile(self+".ran", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		f.WriteString("ran\n")
		f.Close()
	}
	e := ext{}
	plugin.Serve(plugin.Extension{Name: "testplugin", Version: "0.1.0", Parser: e, Source: e, Strategy: e, Configure: e.configure})
}
