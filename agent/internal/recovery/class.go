package recovery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
)

// Class is an error class; it decides whether and how an operation is retried and whether a
// failure counts against a circuit breaker.
type Class string

// Error classes.
const (
	ClassNetwork    Class = "network"
	ClassTimeout    Class = "timeout"
	ClassResource   Class = "resource"
	ClassPermission Class = "permission"
	ClassNotFound   Class = "not_found"
	ClassAuth       Class = "auth"
	ClassIntegrity  Class = "integrity"
	ClassCancelled  Class = "cancelled"
	ClassUnknown    Class = "unknown"
)

// Classes lists every class, in the order the API reports them.
var Classes = []Class{ClassNetwork, ClassTimeout, ClassResource, ClassPermission, ClassNotFound, ClassAuth, ClassIntegrity, ClassCancelled, ClassUnknown}

// Valid reports whether c is a known class.
func (c Class) Valid() bool {
	for _, k := range Classes {
		if k == c {
			return true
		}
	}
	return false
}

// TripsBreaker reports whether a failure of this class counts against a breaker: errors that
// say nothing about the target's health (a missing file, a rejected token, our own
// cancellation) never open one.
func (c Class) TripsBreaker() bool {
	switch c {
	case ClassNotFound, ClassAuth, ClassPermission, ClassCancelled:
		return false
	}
	return true
}

type classError struct {
	class Class
	err   error
}

func (e *classError) Error() string { return e.err.Error() }
func (e *classError) Unwrap() error { return e.err }

// WithClass forces err's class; the outermost WithClass wins. A nil err stays nil.
func WithClass(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &classError{class: c, err: err}
}

type retryAfterError struct {
	after time.Duration
	err   error
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// WithRetryAfter attaches a server's Retry-After hint; the runner waits at least that long
// (capped) before the next attempt.
func WithRetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{after: d, err: err}
}

// RetryAfter returns the Retry-After hint carried by err, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after, true
	}
	return 0, false
}

// StatusError is an HTTP response that failed; HTTPError builds it.
type StatusError struct {
	Status     int
	Message    string
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg = e.Message + ": " + msg
	}
	return msg
}

// HTTPError returns an error for a failed HTTP response, classified by StatusClass and carrying
// Retry-After (seconds or HTTP-date) when the header has one.
func HTTPError(status int, header http.Header, msg string) error {
	e := &StatusError{Status: status, Message: msg}
	var err error = e
	if d, ok := ParseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
		err = WithRetryAfter(d, e)
	}
	return err
}

// ParseRetryAfter reads a Retry-After header, seconds or an HTTP-date (a date in the past is a
// zero wait); ok is false when v is empty or unreadable.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// StatusClass is the one place an HTTP status maps to an error class, for every HTTP client of
// the agent (the model downloader, HTTPError and so the model sources): 401/403/407 auth,
// 404/410 not_found, 408/504 timeout, 409/412/416 integrity (the request's precondition or
// range no longer fits the remote file), every other 5xx and 429 network, anything else
// unknown.
//
// 429 Too Many Requests and 503 Service Unavailable are network, not resource: both say the
// remote host cannot serve us right now, a passing state of that host like any other 5xx. So
// they are retried with backoff (and the wait the host asked for: the runner and the
// downloader honour Retry-After whatever the class) and count against the host's breaker.
// resource means this machine ran out of something (disk, memory, ports, GPU); its advice
// (free space) and its API answer (507 Insufficient Storage) would send the operator to the
// wrong machine. 507 from a host is that host's storage, so it is network too.
func StatusClass(code int) Class {
	switch {
	case code == 401 || code == 403 || code == 407:
		return ClassAuth
	case code == 404 || code == 410:
		return ClassNotFound
	case code == 408 || code == 504:
		return ClassTimeout
	case code == 409 || code == 412 || code == 416:
		return ClassIntegrity
	case code == 429 || (code >= 500 && code <= 599):
		return ClassNetwork
	default:
		return ClassUnknown
	}
}

// outputHints maps text a subprocess prints on failure to a class; the first match wins.
var outputHints = []struct {
	needle string
	class  Class
}{
	{"no space left on device", ClassResource},
	{"disk quota exceeded", ClassResource},
	{"out of memory", ClassResource},
	{"cuda error: out of memory", ClassResource},
	{"cannot allocate memory", ClassResource},
	{"permission denied", ClassPermission},
	{"could not resolve host", ClassNetwork},
	{"temporary failure in name resolution", ClassNetwork},
	{"connection reset", ClassNetwork},
	{"connection refused", ClassNetwork},
	{"connection timed out", ClassTimeout},
	{"timed out", ClassTimeout},
	{"read timed out", ClassTimeout},
	{"authentication failed", ClassAuth},
	{"401 unauthorized", ClassAuth},
	{"403 forbidden", ClassAuth},
	{"repository not found", ClassNotFound},
	{"could not find a version that satisfies", ClassNotFound},
	{"no matching distribution found", ClassNotFound},
	{"hash mismatch", ClassIntegrity},
	{"checksum mismatch", ClassIntegrity},
	{"do not match the hashes", ClassIntegrity},
}

// ClassifyText classifies free text (a subprocess's stderr, an error message).
func ClassifyText(s string) Class {
	s = strings.ToLower(s)
	for _, h := range outputHints {
		if strings.Contains(s, h.needle) {
			return h.class
		}
	}
	return ClassUnknown
}

// Classify returns err's class. Explicit WithClass wins; then HTTP statuses, cancellation,
// deadlines, errno values, fs sentinels, network errors and, for a subprocess that failed,
// the text of its output (*exec.ExitError's Stderr and the error message).
func Classify(err error) Class {
	if err == nil {
		return ""
	}
	var ce *classError
	if errors.As(err, &ce) {
		return ce.class
	}
	var se *StatusError
	if errors.As(err, &se) {
		return StatusClass(se.Status)
	}
	var oe *breaker.OpenError
	if errors.As(err, &oe) {
		return ClassNetwork
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ClassCancelled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ClassTimeout
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EMFILE),
		errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.ENOMEM):
		return ClassResource
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS),
		errors.Is(err, fs.ErrPermission):
		return ClassPermission
	case errors.Is(err, fs.ErrNotExist):
		return ClassNotFound
	case errors.Is(err, syscall.ETIMEDOUT):
		return ClassTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ClassNetwork
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ClassTimeout
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return ClassAuth
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound && !dns.IsTemporary {
			return ClassNotFound
		}
		return ClassNetwork
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return ClassNetwork
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if c := ClassifyText(string(ee.Stderr) + "\n" + err.Error()); c != ClassUnknown {
			return c
		}
		return ClassUnknown
	}
	if errors.Is(err, io.EOF) {
		return ClassNetwork
	}
	return ClassifyText(err.Error())
}

// Suggestions returns actionable advice for an error class, shown in API error envelopes.
func Suggestions(c Class) []string {
	switch c {
	case ClassNetwork:
		return []string{
			"Check the node's network connection and DNS (curl the URL from the node)",
			"The operation is retried automatically with backoff; if a circuit breaker is open, wait for its timeout (GET /api/recovery/status) or retry later",
			"If a host is rate limiting or busy (HTTP 429/503), wait for the time it asked for; the agent honours Retry-After",
		}
	case ClassTimeout:
		return []string{
			"The remote host or process did not answer in time; check that it is reachable and not overloaded",
			"Retry the operation (POST /api/recovery/operations/{id}/retry) once the host responds",
		}
	case ClassResource:
		return []string{
			"Free disk space in the data or models directory (GET /api/storage/usage shows what uses it) or raise the quota",
			"If the port is already in use, stop the other process or change the port range in launcher.toml [ports]",
			"If the GPU ran out of memory, stop other projects on this GPU or use a smaller model",
		}
	case ClassPermission:
		return []string{
			"The agent's user cannot write there: fix the directory's owner or mode (chown/chmod), or point paths.data_dir / paths.models_dir at a writable directory",
			"Check the file system is not mounted read-only",
		}
	case ClassNotFound:
		return []string{
			"The file, URL or repository does not exist: check the name, URL or revision",
			"For models, search another source or give the download URL explicitly",
		}
	case ClassAuth:
		return []string{
			"The model host rejected the credentials: set or renew the API token for that source in launcher.toml [sources] (e.g. a Hugging Face or Civitai token)",
			"Some models require accepting a licence on the host's web page with the same account first",
			"For TLS certificate errors, check the node's clock and CA certificates",
		}
	case ClassIntegrity:
		return []string{
			"The downloaded data did not match its expected size or checksum; retry to download it again from the start",
			"If it keeps failing, the source file changed: check the expected sha256 or pick another source",
		}
	case ClassCancelled:
		return []string{
			"The operation was cancelled; partial data is kept, so retrying resumes it (POST /api/recovery/operations/{id}/retry)",
		}
	default:
		return []string{
			"Check the agent log for details",
			"Retry the operation (POST /api/recovery/operations/{id}/retry); if it fails again, report the error message",
		}
	}
}

// APIError turns an error into an *apierr.Error whose kind, type and suggestions follow its
// class, so any package can answer with the spec's envelope. An err that already is an
// *apierr.Error is returned unchanged; msg, when set, replaces the message.
func APIError(err error, msg string) *apierr.Error {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae
	}
	c := Classify(err)
	kind, typ := apiKind(c)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusTooManyRequests {
		kind, typ = apierr.TooManyRequests, "RateLimitedError"
	}
	e := apierr.Wrap(kind, typ, err, msg, Suggestions(c)...)
	return e.With("error_class", string(c))
}

func apiKind(c Class) (apierr.Kind, string) {
	switch c {
	case ClassNetwork:
		return apierr.Unavailable, "NetworkError"
	case ClassTimeout:
		return apierr.Unavailable, "TimeoutError"
	case ClassResource:
		return apierr.InsufficientStorage, "ResourceExhaustedError"
	case ClassPermission:
		return apierr.Forbidden, "PermissionError"
	case ClassNotFound:
		return apierr.NotFound, "NotFoundError"
	case ClassAuth:
		// Not 401: that would tell the API client its own token is wrong.
		return apierr.Forbidden, "UpstreamAuthError"
	case ClassIntegrity:
		return apierr.Conflict, "IntegrityError"
	case ClassCancelled:
		return apierr.Conflict, "CancelledError"
	default:
		return apierr.Internal, "InternalError"
	}
}
