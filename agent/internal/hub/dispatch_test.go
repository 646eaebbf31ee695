package hub

import (
	"fmt"
	"strings"
	"testing"
)

func TestSubscriptionLimit(t *testing.T) {
	h := New(testLogger(), Options{QueueSize: 4 * maxTopicsPerClient})
	c := newClient(h, wireSIO, nil, func(string) {})
	h.add(c)
	for i := range maxTopicsPerClient {
		h.handle(c, "subscribe_logs", fmt.Appendf(nil, `{"project_id":"p%d"}`, i), int64(i))
	}
	c.q.take()
	h.handle(c, "subscribe_logs", []byte(`{"project_id":"one-too-many"}`), 9999)
	got := frameStrings(c.q.take())
	if len(got) != 2 || !strings.HasPrefix(got[0], `439999[{"error":"too many subscriptions`) ||
		!strings.HasPrefix(got[1], `42["error",`) {
		t.Fatalf("over the limit: %q", got)
	}
	if n := len(h.topics); n != maxTopicsPerClient {
		t.Fatalf("hub holds %d topics, want %d", n, maxTopicsPerClient)
	}
	h.remove(c)
	if n := len(h.topics); n != 0 {
		t.Fatalf("after remove the hub holds %d topics", n)
	}
}
