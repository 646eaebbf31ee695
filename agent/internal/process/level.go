package process

import "strings"

// Log levels of LogLine.Level.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)

// leveler detects the level of each line. A Python traceback spans several lines; its indented
// frame lines and its final exception line are errors too, although only the first line says
// "Traceback".
type leveler struct{ inTraceback bool }

func (l *leveler) level(line string) string {
	low := strings.ToLower(line)
	if strings.HasPrefix(low, "traceback (most recent call last)") {
		l.inTraceback = true
		return LevelError
	}
	if l.inTraceback {
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			return LevelError
		}
		// The first unindented line ends the traceback: it is the exception itself.
		l.inTraceback = false
		if line != "" {
			return LevelError
		}
	}
	switch {
	case strings.Contains(low, "error"), strings.Contains(low, "exception"),
		strings.Contains(low, "traceback"), strings.Contains(low, "import failed"),
		strings.Contains(low, "cannot import"):
		return LevelError
	case strings.Contains(low, "warn"):
		return LevelWarning
	}
	return LevelInfo
}
