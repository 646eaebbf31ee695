package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func exitErr(t *testing.T, script string) error {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	_, err := cmd.Output()
	if err == nil {
		t.Fatalf("script %q succeeded", script)
	}
	return err
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ""},
		{"forced class wins", WithClass(ClassAuth, syscall.ECONNRESET), ClassAuth},
		{"outermost forced class wins", WithClass(ClassIntegrity, WithClass(ClassNetwork, io.EOF)), ClassIntegrity},
		{"context canceled", fmt.Errorf("step: %w", context.Canceled), ClassCancelled},
		{"deadline exceeded", context.DeadlineExceeded, ClassTimeout},
		{"os deadline", os.ErrDeadlineExceeded, ClassTimeout},
		{"net.Error timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, ClassTimeout},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, ClassNetwork},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, ClassNetwork},
		{"unexpected EOF mid-body", fmt.Errorf("copy: %w", io.ErrUnexpectedEOF), ClassNetwork},
		{"disk full", &fs.PathError{Op: "write", Path: "/m/x.part", Err: syscall.ENOSPC}, ClassResource},
		{"quota", &fs.PathError{Op: "write", Path: "/m/x.part", Err: syscall.EDQUOT}, ClassResource},
		{"permission denied", &fs.PathError{Op: "open", Path: "/root/x", Err: syscall.EACCES}, ClassPermission},
		{"eperm", syscall.EPERM, ClassPermission},
		{"read-only fs", &fs.PathError{Op: "open", Path: "/ro", Err: syscall.EROFS}, ClassPermission},
		{"not exist", &fs.PathError{Op: "open", Path: "/nope", Err: syscall.ENOENT}, ClassNotFound},
		{"fs.ErrNotExist", fs.ErrNotExist, ClassNotFound},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}, ClassNotFound},
		{"dns temporary", &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}, ClassNetwork},
		{"http 401", HTTPError(401, nil, "download"), ClassAuth},
		{"http 403", HTTPError(403, http.Header{}, ""), ClassAuth},
		{"http 404", HTTPError(404, nil, ""), ClassNotFound},
		{"http 410", HTTPError(410, nil, ""), ClassNotFound},
		{"http 408", HTTPError(408, nil, ""), ClassTimeout},
		{"http 504", HTTPError(504, nil, ""), ClassTimeout},
		{"http 429", HTTPError(429, http.Header{"Retry-After": {"7"}}, ""), ClassNetwork},
		{"http 503", HTTPError(503, nil, ""), ClassNetwork},
		{"http 500", HTTPError(500, nil, ""), ClassNetwork},
		{"http 502 wrapped", fmt.Errorf("fetch: %w", HTTPError(502, nil, "")), ClassNetwork},
		{"breaker open", &breaker.OpenError{Name: "x", Err: breaker.ErrOpen}, ClassNetwork},
		{"exit: no space", exitErr(t, "echo 'write error: No space left on device' >&2; exit 1"), ClassResource},
		{"exit: git host", exitErr(t, "echo 'fatal: unable to access: Could not resolve host: github.com' >&2; exit 128"), ClassNetwork},
		{"exit: pip not found", exitErr(t, "echo 'ERROR: No matching distribution found for nosuchpkg' >&2; exit 1"), ClassNotFound},
		{"exit: cuda oom", exitErr(t, "echo 'torch.cuda.OutOfMemoryError: CUDA out of memory' >&2; exit 1"), ClassResource},
		{"exit: silent", exitErr(t, "exit 3"), ClassUnknown},
		{"plain text hash mismatch", errors.New("sha256 checksum mismatch for x"), ClassIntegrity},
		{"plain unknown", errors.New("something odd"), ClassUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Fatalf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestHTTPErrorRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   time.Duration
		ok     bool
	}{
		{"seconds", "120", 120 * time.Second, true},
		{"zero", "0", 0, true},
		{"absent", "", 0, false},
		{"garbage", "soon", 0, false},
		{"negative", "-5", 0, false},
		{"past http date", "Mon, 02 Jan 2006 15:04:05 GMT", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			got, ok := RetryAfter(HTTPError(503, h, ""))
			if ok != tt.ok || got != tt.want {
				t.Fatalf("RetryAfter = %v,%v, want %v,%v", got, ok, tt.want, tt.ok)
			}
		})
	}
	// An HTTP-date is relative to now, which the test fixes rather than reading the clock.
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	d, ok := ParseRetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now)
	if !ok || d != 90*time.Second {
		t.Fatalf("http-date Retry-After = %v,%v, want 90s", d, ok)
	}
}

// TestStatusClass is the agent's one HTTP status table (the downloader classifies by it too).
func TestStatusClass(t *testing.T) {
	for _, tt := range []struct {
		codes []int
		want  Class
	}{
		{[]int{401, 403, 407}, ClassAuth},
		{[]int{404, 410}, ClassNotFound},
		{[]int{408, 504}, ClassTimeout},
		{[]int{409, 412, 416}, ClassIntegrity},
		// 429 and 503: the host is busy for now; retried after backoff (and Retry-After).
		{[]int{429, 500, 502, 503, 507, 599}, ClassNetwork},
		{[]int{0, 200, 304, 400, 405, 418, 451, 600}, ClassUnknown},
	} {
		for _, code := range tt.codes {
			if got := StatusClass(code); got != tt.want {
				t.Errorf("StatusClass(%d) = %s, want %s", code, got, tt.want)
			}
		}
	}
	for _, c := range []Class{StatusClass(429), StatusClass(503)} {
		if p := DefaultPolicies()[c]; !p.Retry || p.BaseDelay <= 0 || !c.TripsBreaker() {
			t.Errorf("429/503 class %s: policy %+v, trips breaker %v; want retried after backoff, counted by the breaker", c, p, c.TripsBreaker())
		}
	}
}

func TestAPIErrorCarriesSuggestions(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantKind apierr.Kind
		wantType string
	}{
		{"disk full", &fs.PathError{Op: "write", Path: "/m", Err: syscall.ENOSPC}, apierr.InsufficientStorage, "ResourceExhaustedError"},
		{"auth", HTTPError(401, nil, "huggingface"), apierr.Forbidden, "UpstreamAuthError"},
		{"not found", fs.ErrNotExist, apierr.NotFound, "NotFoundError"},
		{"rate limited", HTTPError(429, nil, ""), apierr.TooManyRequests, "RateLimitedError"},
		{"apierr passes through", apierr.New(apierr.Conflict, "PortInUseError", "port 4001 is in use", "stop it"), apierr.Conflict, "PortInUseError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := APIError(tt.err, "")
			if e.Kind != tt.wantKind || e.Type != tt.wantType {
				t.Fatalf("APIError = kind %v type %s, want %v %s", e.Kind, e.Type, tt.wantKind, tt.wantType)
			}
			if len(e.Suggestions) == 0 {
				t.Fatalf("no suggestions")
			}
		})
	}
	for _, c := range Classes {
		if len(Suggestions(c)) == 0 {
			t.Errorf("class %s has no suggestions", c)
		}
	}
}
