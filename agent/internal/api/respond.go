package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
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
			want := jsonKind(typ.Type)
			if typ.Field == "" {
				return apierr.Newf(apierr.Invalid, "ValidationError", "request body must be %s, got %s", want, jsonValueWord(typ.Value)).
					Suggest("Send " + want + " as the request body")
			}
			return apierr.Newf(apierr.Invalid, "ValidationError", "field %q must be %s, got %s", typ.Field, want, jsonValueWord(typ.Value)).
				Suggest(fmt.Sprintf("Send %q as %s", typ.Field, want)).With("field", typ.Field)
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

// jsonKind names what a Go type accepts in the words of JSON (and of spec/api.md), so an
// error never shows a Go type name such as int64 or map[string]interface {}.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array of " + jsonPlural(t.Elem())
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "a JSON value"
	}
}

// jsonPlural names the elements of an array of t.
func jsonPlural(t reflect.Type) string {
	switch k := jsonKind(t); k {
	case "true or false":
		return "booleans"
	case "a JSON value":
		return "JSON values"
	default:
		word := strings.TrimPrefix(strings.TrimPrefix(k, "an "), "a ")
		if strings.HasPrefix(word, "array of ") {
			return "arrays"
		}
		return word + "s"
	}
}

// jsonValueWord turns encoding/json's description of the value it met ("number 1.5",
// "string", "array") into a phrase for the error message.
func jsonValueWord(v string) string {
	switch {
	case v == "":
		return "something else"
	case strings.HasPrefix(v, "number"):
		if n := strings.TrimSpace(strings.TrimPrefix(v, "number")); n != "" {
			return "the number " + n
		}
		return "a number"
	case v == "bool":
		return "true or false"
	case v == "array", v == "object", v == "string":
		return map[string]string{"array": "an array", "object": "an object", "string": "a string"}[v]
	default:
		return v
	}
}
