package plugin

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/comfylauncher/launcher/sdk/extension"
	pb "github.com/comfylauncher/launcher/sdk/proto/cmfy/plugin/v1"
	"github.com/comfylauncher/launcher/sdk/proto/cmfy/plugin/v1/pluginv1grpc"
)

// Extension is what a plugin serves: its name and version, the capabilities it implements
// (nil ones are not declared) and the function that receives its config.
type Extension struct {
	Name    string
	Version string

	Parser   sdk.WorkflowParser
	Source   sdk.ModelSource
	Strategy sdk.RecoveryStrategy

	// Configure receives the [[extensions]].config table (as JSON in req.Config) once per
	// process start, before any capability is called; decode it with extension.DecodeConfig,
	// which refuses unknown keys. An error refuses the plugin with that message.
	Configure func(ctx context.Context, req sdk.InitRequest) error
}

// Manifest is what the plugin declares about itself.
func (e Extension) Manifest() sdk.Manifest {
	m := sdk.Manifest{Name: e.Name, Version: e.Version, ABIMinor: sdk.ABIMinor, Capabilities: []sdk.Capability{}}
	if e.Parser != nil {
		m.Capabilities = append(m.Capabilities, sdk.CapWorkflowParser)
	}
	if e.Source != nil {
		m.Capabilities = append(m.Capabilities, sdk.CapModelSource)
	}
	if e.Strategy != nil {
		m.Capabilities = append(m.Capabilities, sdk.CapRecoveryStrategy)
	}
	return m
}

// parentPollInterval is how often a plugin checks that the agent that started it still runs.
// (On Linux the agent also sets a parent-death signal; this covers the other systems and a
// plugin started by a thread that has since exited.)
const parentPollInterval = 500 * time.Millisecond

// Serve runs ext as a plugin of the agent until the agent stops it or goes away. It does not
// return; call it from main. Run by hand (not by the agent), it prints why it cannot run and
// exits with status 1.
func Serve(ext Extension) {
	logger := hclog.New(&hclog.LoggerOptions{Name: ext.Name, Level: hclog.Trace, Output: os.Stderr, JSONFormat: true})
	go exitWithParent(os.Getppid(), logger)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{ProtocolVersion: {PluginName: &grpcPlugin{ext: ext}}},
		GRPCServer:       NewGRPCServer(logger),
		Logger:           logger,
	})
}

// NewGRPCServer returns go-plugin's GRPCServer function with the recover interceptor
// installed: without it a panic in a handler kills the plugin process.
func NewGRPCServer(logger hclog.Logger) func([]grpc.ServerOption) *grpc.Server {
	return func(opts []grpc.ServerOption) *grpc.Server {
		return grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(recoverInterceptor(logger)))...)
	}
}

// recoverInterceptor turns a panic in a handler into an Internal error for that call; the
// process, and every other call, carries on.
func recoverInterceptor(logger hclog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.Error("handler panicked", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				resp, err = nil, status.Errorf(codes.Internal, "plugin panic in %s: %v", info.FullMethod, p)
			}
		}()
		return handler(ctx, req)
	}
}

// exitWithParent ends the plugin when its parent (the agent) is gone: the process is then
// re-parented, so its parent pid changes.
func exitWithParent(ppid int, logger hclog.Logger) {
	if ppid <= 1 {
		return
	}
	for range time.Tick(parentPollInterval) {
		if os.Getppid() != ppid {
			logger.Warn("the agent that started this plugin is gone; exiting", "parent_pid", ppid)
			os.Exit(0)
		}
	}
}

func register(s *grpc.Server, ext Extension) {
	pluginv1grpc.RegisterPluginServiceServer(s, &infoServer{ext: ext})
	if ext.Parser != nil {
		pluginv1grpc.RegisterWorkflowParserServiceServer(s, &parserServer{impl: ext.Parser})
	}
	if ext.Source != nil {
		pluginv1grpc.RegisterModelSourceServiceServer(s, &sourceServer{impl: ext.Source})
	}
	if ext.Strategy != nil {
		pluginv1grpc.RegisterRecoveryStrategyServiceServer(s, &strategyServer{impl: ext.Strategy})
	}
}

type infoServer struct {
	pluginv1grpc.UnimplementedPluginServiceServer
	ext Extension
}

func (s *infoServer) Info(context.Context, *pb.InfoRequest) (*pb.Manifest, error) {
	return manifestToPB(s.ext.Manifest()), nil
}

func (s *infoServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if s.ext.Configure != nil {
		if err := s.ext.Configure(ctx, sdk.InitRequest{HostVersion: req.GetHostVersion(), Config: req.GetConfigJson()}); err != nil {
			return nil, toStatus(err)
		}
	}
	return &pb.ConfigureResponse{}, nil
}

type parserServer struct {
	pluginv1grpc.UnimplementedWorkflowParserServiceServer
	impl sdk.WorkflowParser
}

func (s *parserServer) Parse(ctx context.Context, req *pb.ParseRequest) (*pb.ParseResult, error) {
	out, err := s.impl.ParseWorkflow(ctx, parseRequestFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return parseResultToPB(out), nil
}

type sourceServer struct {
	pluginv1grpc.UnimplementedModelSourceServiceServer
	impl sdk.ModelSource
}

func (s *sourceServer) Resolve(ctx context.Context, req *pb.ResolveRequest) (*pb.ResolveResponse, error) {
	out, err := s.impl.ResolveModel(ctx, resolveRequestFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return resolveResponseToPB(out), nil
}

type strategyServer struct {
	pluginv1grpc.UnimplementedRecoveryStrategyServiceServer
	impl sdk.RecoveryStrategy
}

func (s *strategyServer) Decide(ctx context.Context, req *pb.StrategyInput) (*pb.StrategyDecision, error) {
	out, err := s.impl.Decide(ctx, strategyInputFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return decisionToPB(out), nil
}
