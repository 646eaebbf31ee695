package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHealthLoopback measures /api/health over real loopback HTTP with keep-alive
// connections and parallel clients: go test -bench HealthLoopback ./agent/internal/api/
func BenchmarkHealthLoopback(b *testing.B) {
	s := New(Options{Version: "bench"})
	s.AddHealth("store", func() (bool, any) { return true, map[string]any{"state": "open"} })
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(ts.URL + "/api/health")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
