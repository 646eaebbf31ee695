package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

// DefaultBodyLimit caps request bodies that handlers decode with DecodeJSON.
const DefaultBodyLimit = 8 << 20

// Envelope is the error body of spec/api.md.
type Envelope struct {
	Error       string   `json:"error"`
	Type        string   `json:"type"`
	Suggestions []string `json:"suggestions"`
	Traceback   string   `json:"traceback,omitempty"`
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// errorContext is what WriteError needs from the server that handles the request; the
// server's middleware puts it in the request context so handlers need no server reference.
type errorContext struct {
	debug  bool // adds tracebacks
	logger *slog.Logger
}

type errorContextKey struct{}

func errorContextOf(r *http.Request) errorContext {
	if ec, ok := r.Context().Value(errorContextKey{}).(errorContext); ok {
		return ec
	}
	return errorContext{logger: slog.New(slog.DiscardHandler)}
}

// WriteError writes err as the spec's error envelope. *apierr.Error values keep their kind,
// type, suggestions and extra fields; anything else is a 500 whose text is still shown so the
// operator learns what broke.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *apierr.Error
	if !errors.As(err, &e) {
		e = apierr.Wrap(apierr.Internal, "InternalError", err, "", "Check the agent log for details; retry the request")
	}
	status := apierr.Status(e.Kind)
	ec := errorContextOf(r)
	if status >= 500 {
		ec.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	body := map[string]any{
		"error":       e.Error(),
		"type":        e.Type,
		"suggestions": nonNil(e.Suggestions),
	}
	if e.Type == "" {
		body["type"] = defaultType(e.Kind)
	}
	for k, v := range e.Fields {
		body[k] = v
	}
	if ec.debug {
		body["traceback"] = string(debug.Stack())
	}
	WriteJSON(w, status, body)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func defaultType(k apierr.Kind) string {
	switch k {
	case apierr.Invalid:
		return "ValidationError"
	case apierr.NotFound:
		return "NotFoundError"
	case apierr.Conflict:
		return "ConflictError"
	case apierr.Unauthorized:
		return "AuthenticationError"
	case apierr.Forbidden:
		return "ForbiddenError"
	case apierr.TooLarge:
		return "PayloadTooLargeError"
	case apierr.Unavailable:
		return "ServiceUnavailableError"
	case apierr.InsufficientStorage:
		return "DiskFullError"
	default:
		return "InternalError"
	}
}

// DecodeJSON reads a JSON body of at most limit bytes (DefaultBodyLimit when limit <= 0) into v.
// Unknown fields are allowed (web UIs send extra keys); a body that is too large is a TooLarge
// error, malformed JSON an Invalid error naming the offset.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	if r.Body == nil {
		return apierr.New(apierr.Invalid, "ValidationError", "request body is empty", "Send a JSON object as the request body")
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return apierr.Newf(apierr.TooLarge, "PayloadTooLargeError", "request body is larger than %d bytes", limit).
				Suggest("Send a smaller body")
		case errors.Is(err, io.EOF):
			return apierr.New(apierr.Invalid, "ValidationError", "request body is empty", "Send a JSON object as the request body")
		case errors.As(err, &syn):
			return apierr.Newf(apierr.Invalid, "ValidationError", "malformed JSON at byte %d: %v", syn.Offset, err).
				Suggest("Check the request body is valid JSON")
		case errors.As(err, &typ):
			field := typ.Field
			if field == "" {
				field = "(body)"
			}
			return apierr.Newf(apierr.Invalid, "ValidationError", "field %q must be %s, got %s", field, typ.Type.String(), typ.Value).
				Suggest(fmt.Sprintf("Send %q as %s", field, strings.TrimPrefix(typ.Type.String(), "*")))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return apierr.New(apierr.Invalid, "ValidationError", "request body ends in the middle of a JSON value",
				"Check the request body is complete, valid JSON")
		default:
			return apierr.New(apierr.Invalid, "ValidationError", "invalid JSON body: "+err.Error(),
				"Check the request body is valid JSON of the documented shape")
		}
	}
	return nil
}
