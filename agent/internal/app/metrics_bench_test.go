package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMetricsScrape is one /metrics scrape of a wired agent (every collector, an empty
// store): go test -run '^$' -bench MetricsScrape ./agent/internal/app/
func BenchmarkMetricsScrape(b *testing.B) {
	a, _ := newTestApp(b, nil)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
