package plugin

import (
	"log/slog"
	"os"
	"strings"
)

// hclogTime is the timestamp layout go-plugin parses in a plugin's JSON log lines.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// Logger returns a logger whose records reach the agent's log with their level and
// attributes, tagged with the plugin: it writes hclog's JSON lines (@level, @message,
// @timestamp) on stderr, which the agent parses. Plain stderr output reaches the agent's log
// too, as debug lines.
func Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: hclogAttr}))
}

func hclogAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		return slog.String("@level", strings.ToLower(a.Value.String()))
	case slog.MessageKey:
		return slog.String("@message", a.Value.String())
	case slog.TimeKey:
		return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
	}
	return a
}
