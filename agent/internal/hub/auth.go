package hub

import (
	"net/http"
	"strings"
)

// TokenFromRequest returns the API token r carries: the Authorization Bearer header first, then
// the token query parameter (browsers cannot set headers on WebSocket or EventSource requests).
// It returns "" when there is none.
func TokenFromRequest(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, tok, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok
			}
		}
	}
	return r.URL.Query().Get("token")
}
