package pluginhost

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// slogger is go-plugin's logger (hclog) writing into the agent's slog: the plugin's own log
// lines (hclog JSON on its stderr, parsed by go-plugin) and go-plugin's messages about the
// process arrive here with their level and fields.
type slogger struct {
	log  *slog.Logger
	name string
	args []any
}

var _ hclog.Logger = (*slogger)(nil)

func newSlogger(l *slog.Logger) *slogger { return &slogger{log: l} }

func (s *slogger) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	if !s.log.Enabled(context.Background(), lv) {
		return
	}
	attrs := append(append([]any{}, s.args...), args...)
	if s.name != "" {
		attrs = append(attrs, "logger", s.name)
	}
	s.log.Log(context.Background(), lv, msg, attrs...)
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (s *slogger) Trace(msg string, args ...any) { s.Log(hclog.Trace, msg, args...) }
func (s *slogger) Debug(msg string, args ...any) { s.Log(hclog.Debug, msg, args...) }
func (s *slogger) Info(msg string, args ...any)  { s.Log(hclog.Info, msg, args...) }
func (s *slogger) Warn(msg string, args ...any)  { s.Log(hclog.Warn, msg, args...) }
func (s *slogger) Error(msg string, args ...any) { s.Log(hclog.Error, msg, args...) }

func (s *slogger) enabled(l slog.Level) bool { return s.log.Enabled(context.Background(), l) }
func (s *slogger) IsTrace() bool             { return s.enabled(slog.LevelDebug) }
func (s *slogger) IsDebug() bool             { return s.enabled(slog.LevelDebug) }
func (s *slogger) IsInfo() bool              { return s.enabled(slog.LevelInfo) }
func (s *slogger) IsWarn() bool              { return s.enabled(slog.LevelWarn) }
func (s *slogger) IsError() bool             { return s.enabled(slog.LevelError) }
func (s *slogger) ImpliedArgs() []any        { return s.args }
func (s *slogger) Name() string              { return s.name }

func (s *slogger) With(args ...any) hclog.Logger {
	c := *s
	c.args = append(append([]any{}, s.args...), args...)
	return &c
}

func (s *slogger) Named(name string) hclog.Logger {
	c := *s
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (s *slogger) ResetNamed(name string) hclog.Logger {
	c := *s
	c.name = name
	return &c
}

// SetLevel is a no-op: the agent's slog handler decides what is written.
func (s *slogger) SetLevel(hclog.Level) {}

func (s *slogger) GetLevel() hclog.Level {
	switch {
	case s.IsDebug():
		return hclog.Debug
	case s.IsInfo():
		return hclog.Info
	case s.IsWarn():
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (s *slogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(s.StandardWriter(opts), "", 0)
}

func (s *slogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		s.Info(strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
