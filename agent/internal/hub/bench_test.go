package hub

import (
	"fmt"
	"testing"
)

// BenchmarkFanout1000 publishes one progress_update to 1,000 subscribers (half /ws, half
// Socket.IO framing) through the real queues; draining them is not timed.
//
//	go test -run '^$' -bench Fanout1000 -benchtime=200x ./agent/internal/hub/
func BenchmarkFanout1000(b *testing.B) {
	h := New(testLogger(), Options{QueueSize: 1024})
	topic := ProjectTopic("p1")
	clients := make([]*client, 1000)
	for i := range clients {
		c := newClient(h, wire(i%2), nil, func(string) {})
		if !h.add(c) {
			b.Fatal("hub closed")
		}
		h.mu.Lock()
		c.topics[topic] = struct{}{}
		if h.topics[topic] == nil {
			h.topics[topic] = make(map[*client]struct{})
		}
		h.topics[topic][c] = struct{}{}
		h.mu.Unlock()
		clients[i] = c
	}
	data := progress("p1", 50)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Publish(topic, EventProgress, data)
		b.StopTimer()
		for _, c := range clients {
			batch := c.q.take()
			if len(batch) != 1 {
				b.Fatal(fmt.Sprintf("client got %d frames, want 1", len(batch)))
			}
			c.q.recycle(batch)
		}
		b.StartTimer()
	}
}
