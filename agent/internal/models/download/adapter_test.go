package download

import "testing"

// TestAdapter walks the connection controller through throughput samples.
func TestAdapter(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		samples []float64
		want    []int
	}{
		// Per-connection throttled: each step multiplies the rate, up to the maximum.
		{"throttled host", 8, []float64{20, 0, 80, 0, 160, 160}, []int{4, 4, 8, 8, 8, 8}},
		{"throttled host, more allowed", 32, []float64{20, 0, 80, 0, 320, 0, 640}, []int{4, 4, 16, 16, 32, 32, 32}},
		// Line rate on one connection: more gain nothing and are given back.
		{"fast host", 8, []float64{700, 0, 690, 720}, []int{4, 4, 1, 1}},
		// A host capped at 2 connections: 4 gain 100%, 8 nothing: back to 4.
		{"host limit", 8, []float64{20, 0, 40, 0, 41}, []int{4, 4, 8, 8, 4}},
		{"one allowed", 1, []float64{20, 0, 40}, []int{1, 1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &adapter{max: tc.max, target: 1}
			for i, r := range tc.samples {
				if got := c.next(r); got != tc.want[i] {
					t.Fatalf("sample %d (%v): target %d, want %d", i, r, got, tc.want[i])
				}
			}
		})
	}
}
