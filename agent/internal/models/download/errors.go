package download

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// Sentinel conditions callers test with errors.Is.
var (
	ErrNoSpace      = errors.New("not enough free disk space")
	ErrChecksum     = errors.New("sha256 mismatch")
	ErrBadRange     = errors.New("server answered with a different byte range than requested")
	ErrHTMLPage     = errors.New("server returned an HTML page instead of the file")
	ErrShortBody    = errors.New("response body ended before Content-Length")
	ErrLength       = errors.New("downloaded length differs from the expected size")
	ErrTooManyRetry = errors.New("server keeps ignoring or changing the byte range")
	ErrStalled      = errors.New("no data received within the stall timeout")
	ErrBreakerOpen  = errors.New("circuit breaker open for host")
)

// Error is a classified download failure, in the recovery runner's classes. Permanent errors
// must not be retried; RetryAfter is the server's (or breaker's) requested wait.
type Error struct {
	Class      recovery.Class
	Status     int
	RetryAfter time.Duration
	Permanent  bool
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func classify(class recovery.Class, permanent bool, err error) *Error {
	return &Error{Class: class, Permanent: permanent, Err: err}
}

// ClassOf returns the class of err: its own for an *Error, else recovery.Classify's.
func ClassOf(err error) recovery.Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return recovery.Classify(err)
}

// IsPermanent reports whether retrying err cannot help.
func IsPermanent(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Permanent
	}
	switch ClassOf(err) {
	case recovery.ClassCancelled, recovery.ClassPermission:
		return true
	}
	return false
}

// RetryAfterOf returns the wait the server asked for, 0 when none.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// statusError classifies a non-2xx response (reliability.md §1.2 rule 4) by recovery's
// StatusClass, the agent's one status table. A class that is not retried is permanent: the same
// request would get the same answer.
func statusError(resp *http.Response, now time.Time) *Error {
	code := resp.StatusCode
	e := &Error{Status: code, Class: recovery.StatusClass(code), Err: fmt.Errorf("%s answered %s", resp.Request.URL.Host, resp.Status)}
	switch e.Class {
	case recovery.ClassNetwork, recovery.ClassTimeout:
		e.RetryAfter, _ = recovery.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	default:
		e.Permanent = true
	}
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		e.Err = fmt.Errorf("%w (gated or private model: configure a token for %s)", e.Err, resp.Request.URL.Host)
	}
	return e
}

// Backoff is full-jitter exponential backoff: a random wait in [0, min(max, base*2^(attempt-1))].
func Backoff(attempt int, base, maxWait time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}
