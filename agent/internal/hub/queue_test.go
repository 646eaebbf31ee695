package hub

import (
	"slices"
	"testing"
)

func frameStrings(batch []item) []string {
	var s []string
	for _, it := range batch {
		s = append(s, string(it.b))
	}
	return s
}

func TestQueue(t *testing.T) {
	type op struct {
		push  string // frame text; "" means no push
		key   string
		force bool
		ok    bool // expected push result
	}
	tests := []struct {
		name      string
		limit     int
		ops       []op
		want      []string // take() afterwards
		overflows int
	}{
		{"fifo", 4, []op{{push: "a", ok: true}, {push: "b", ok: true}}, []string{"a", "b"}, 0},
		{"progress coalesced per key, in place", 4, []op{
			{push: "p1", key: "project:a", ok: true},
			{push: "x", ok: true},
			{push: "p2", key: "project:a", ok: true},
			{push: "q1", key: "project:b", ok: true},
			{push: "p3", key: "project:a", ok: true},
		}, []string{"p3", "x", "q1"}, 0},
		{"coalescing does not count toward the limit", 2, []op{
			{push: "p1", key: "k", ok: true},
			{push: "p2", key: "k", ok: true},
			{push: "p3", key: "k", ok: true},
			{push: "x", ok: true},
		}, []string{"p3", "x"}, 0},
		{"overflow closes the queue", 2, []op{
			{push: "a", ok: true}, {push: "b", ok: true}, {push: "c", ok: false}, {push: "d", ok: false},
		}, nil, 1},
		{"forced frames bypass the limit", 1, []op{
			{push: "a", ok: true}, {push: "2", force: true, ok: true},
		}, []string{"a", "2"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			overflows := 0
			q := newQueue(tc.limit, func() { overflows++ })
			for i, o := range tc.ops {
				if got := q.push(item{key: o.key, b: []byte(o.push)}, o.force); got != o.ok {
					t.Fatalf("push %d (%q) = %v, want %v", i, o.push, got, o.ok)
				}
			}
			if overflows != tc.overflows {
				t.Fatalf("overflows = %d, want %d", overflows, tc.overflows)
			}
			if tc.overflows > 0 {
				select {
				case <-q.done:
				default:
					t.Fatal("overflowed queue not done")
				}
			}
			if got := frameStrings(q.take()); !slices.Equal(got, tc.want) {
				t.Fatalf("take = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQueueHoldRelease(t *testing.T) {
	q := newQueue(8, nil)
	q.push(item{b: []byte("before")}, false)
	mark := q.hold()
	q.push(item{key: "k", b: []byte("change1")}, false)
	if q.take() != nil {
		t.Fatal("take returned frames while held")
	}
	q.release(mark, []item{{b: []byte("ack")}, {b: []byte("snapshot")}})
	q.push(item{key: "k", b: []byte("change2")}, false) // coalesces with change1 at its shifted index
	want := []string{"before", "ack", "snapshot", "change2"}
	if got := frameStrings(q.take()); !slices.Equal(got, want) {
		t.Fatalf("take = %q, want %q", got, want)
	}
}

func TestQueueRecycleReusesBatch(t *testing.T) {
	q := newQueue(8, nil)
	q.push(item{b: []byte("a")}, false)
	b1 := q.take()
	q.recycle(b1)
	q.push(item{b: []byte("b")}, false)
	q.recycle(q.take()) // the consumer now alternates between two buffers
	q.push(item{b: []byte("c")}, false)
	b3 := q.take()
	if &b1[:1][0] != &b3[:1][0] {
		t.Fatal("recycled batch not reused")
	}
}

// Through the hub: a lagging client keeps only the newest progress_update of a topic, and is
// disconnected when other events overflow its queue.
func TestHubCoalescesThenDisconnects(t *testing.T) {
	h := New(testLogger(), Options{QueueSize: 4})
	killed := make(chan string, 1)
	c := newClient(h, wireWS, nil, func(reason string) { killed <- reason })
	if !h.add(c) {
		t.Fatal("hub closed")
	}
	h.handle(c, "subscribe_project", []byte(`{"project_id":"p1"}`), noAck)
	for i := range 1000 {
		h.Publish(ProjectTopic("p1"), EventProgress, progress("p1", i))
	}
	want := []string{
		`{"event":"subscribed","data":{"id":"p1","type":"project"}}`,
		`{"event":"progress_update","data":{"progress":{"progress":999,"stage":"downloading"},"project_id":"p1"}}`,
	}
	if got := frameStrings(c.q.take()); !slices.Equal(got, want) {
		t.Fatalf("lagging client has %q, want %q", got, want)
	}
	if h.Stats().Overflows != 0 {
		t.Fatal("coalesced progress overflowed the queue")
	}
	for i := range 5 {
		h.Publish(TopicGlobal, "log_entry", map[string]any{"n": i})
	}
	if reason := <-killed; reason != "send queue full" {
		t.Fatalf("kill reason %q", reason)
	}
	if h.Stats().Overflows != 1 {
		t.Fatalf("overflows = %d, want 1", h.Stats().Overflows)
	}
}
