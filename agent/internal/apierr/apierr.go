// Package apierr defines the agent's error kinds and the one place where they map to HTTP
// status codes. Packages return *Error for conditions a client caused or can act on; the api
// package turns any error into the envelope of spec/api.md.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind says what sort of failure an error is, independent of transport.
type Kind int

// Error kinds. Internal is the zero value so an unclassified error is never mistaken for a
// client mistake.
const (
	Internal Kind = iota
	Invalid
	NotFound
	Conflict
	Unauthorized
	Forbidden
	TooLarge
	Unsupported
	TooManyRequests
	Unavailable
	InsufficientStorage
	MethodNotAllowed
)

// Status is the single mapping from kinds to HTTP status codes.
func Status(k Kind) int {
	switch k {
	case Invalid:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case Unsupported:
		return http.StatusUnsupportedMediaType
	case TooManyRequests:
		return http.StatusTooManyRequests
	case Unavailable:
		return http.StatusServiceUnavailable
	case InsufficientStorage:
		return http.StatusInsufficientStorage
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	default:
		return http.StatusInternalServerError
	}
}

// Error is an error with a kind, a machine-readable type name (e.g. "PortInUseError"),
// actionable suggestions and optional extra top-level fields for the response envelope.
type Error struct {
	Kind        Kind
	Type        string
	Message     string
	Suggestions []string
	// Fields are merged into the JSON envelope, e.g. "projects" for a model in use.
	Fields map[string]any
	Err    error
}

// New returns an error of the given kind.
func New(kind Kind, typ, msg string, suggestions ...string) *Error {
	return &Error{Kind: kind, Type: typ, Message: msg, Suggestions: suggestions}
}

// Newf is New with a formatted message and no suggestions; add them with Suggest.
func Newf(kind Kind, typ, format string, args ...any) *Error {
	return &Error{Kind: kind, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies err. The message is err's text unless msg is non-empty.
func Wrap(kind Kind, typ string, err error, msg string, suggestions ...string) *Error {
	if msg == "" && err != nil {
		msg = err.Error()
	}
	return &Error{Kind: kind, Type: typ, Message: msg, Suggestions: suggestions, Err: err}
}

// Suggest appends suggestions and returns e for chaining.
func (e *Error) Suggest(s ...string) *Error {
	e.Suggestions = append(e.Suggestions, s...)
	return e
}

// With adds an extra top-level envelope field and returns e for chaining.
func (e *Error) With(key string, v any) *Error {
	if e.Fields == nil {
		e.Fields = map[string]any{}
	}
	e.Fields[key] = v
	return e
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message != e.Err.Error() {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err carries the given kind.
func Is(err error, kind Kind) bool { return err != nil && KindOf(err) == kind }
