package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

// closedAfter is an inbound body that net/http closed once the response headers went out: its
// declared bytes can be read, any read after them fails.
type closedAfter struct{ r *strings.Reader }

func (c *closedAfter) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, errors.New("http: invalid Read on closed Body")
	}
	return c.r.Read(p)
}
func (c *closedAfter) Close() error { return nil }

// TestRewriteEndsBodyAtItsLength: the transport's check for surplus bytes (a read after
// Content-Length bytes) must not reach the inbound body, which the server may have closed
// by then; if it does, the upstream connection is torn down mid-answer.
func TestRewriteEndsBodyAtItsLength(t *testing.T) {
	const body = `{"prompt":{}}`
	in, err := http.NewRequest("POST", "http://agent/comfy/demo/api/prompt", &closedAfter{strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	in.ContentLength = int64(len(body))
	in = in.WithContext(context.WithValue(in.Context(), ctxKey{}, target{projectID: "demo", port: 8188, rawPath: "/api/prompt"}))
	pr := &httputil.ProxyRequest{In: in, Out: in.Clone(in.Context())}
	rewrite(pr)

	// What transferWriter.writeBody does: the declared length, then a read for anything more.
	got, err := io.ReadAll(io.LimitReader(pr.Out.Body, pr.Out.ContentLength))
	if err != nil || string(got) != body {
		t.Fatalf("body %q, %v", got, err)
	}
	if n, err := io.Copy(io.Discard, pr.Out.Body); n != 0 || err != nil {
		t.Fatalf("surplus read: %d bytes, %v; want 0, nil without touching the closed inbound body", n, err)
	}
}
