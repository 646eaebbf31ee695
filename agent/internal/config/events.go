package config

import (
	"fmt"
	"time"
)

// EventsConfig is the [events] section: limits of the /ws and /socket.io/ event stream.
type EventsConfig struct {
	// QueueSize is how many frames a client may lag before it is disconnected.
	QueueSize    int      `toml:"queue_size"`
	PingInterval Duration `toml:"ping_interval"`
	PingTimeout  Duration `toml:"ping_timeout"`
	// ConnectTimeout closes an Engine.IO session that never sends a Socket.IO CONNECT.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// MaxPayload caps one inbound message or polling POST, in bytes.
	MaxPayload int64 `toml:"max_payload"`
}

func (e *EventsConfig) setDefaults() {
	e.QueueSize = 256
	e.PingInterval = Duration{25 * time.Second}
	e.PingTimeout = Duration{20 * time.Second}
	e.ConnectTimeout = Duration{45 * time.Second}
	e.MaxPayload = 1_000_000
}

func (e *EventsConfig) validate() []error {
	var errs []error
	if e.QueueSize < 16 {
		errs = append(errs, fmt.Errorf("events.queue_size = %d is too small: use at least 16", e.QueueSize))
	}
	if e.PingInterval.Duration <= 0 || e.PingTimeout.Duration <= 0 || e.ConnectTimeout.Duration <= 0 {
		errs = append(errs, fmt.Errorf("events.ping_interval, ping_timeout and connect_timeout must be positive"))
	}
	if e.MaxPayload < 1024 {
		errs = append(errs, fmt.Errorf("events.max_payload = %d is too small: use at least 1024", e.MaxPayload))
	}
	return errs
}
