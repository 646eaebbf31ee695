// Package sdnotify tells systemd about the agent's state over $NOTIFY_SOCKET (the
// sd_notify(3) protocol: one unix datagram of KEY=VALUE lines), so a Type=notify unit counts
// the agent as started only once it serves.
package sdnotify

import (
	"fmt"
	"net"
	"os"
)

// Messages systemd understands.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
)

// Notify sends state to the socket named by $NOTIFY_SOCKET. It reports false and no error
// when the variable is unset (not run by systemd, or not Type=notify).
func Notify(state string) (sent bool, err error) {
	return NotifySocket(os.Getenv("NOTIFY_SOCKET"), state)
}

// NotifySocket sends state to the datagram socket at path; "" sends nothing. A path starting
// with '@' is in the abstract namespace.
func NotifySocket(path, state string) (bool, error) {
	if path == "" {
		return false, nil
	}
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	if path[0] == '@' {
		addr.Name = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return false, fmt.Errorf("sd_notify: dial %s: %w", path, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify: send %q: %w", state, err)
	}
	return true, nil
}
