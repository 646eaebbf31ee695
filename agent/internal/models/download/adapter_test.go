package download

import (
	"slices"
	"testing"
)

func rep(v float64, n int) []float64 { return slices.Repeat([]float64{v}, n) }

func repInt(v, n int) []int { return slices.Repeat([]int{v}, n) }

// TestAdapter walks the connection controller through throughput samples: a measurement is
// the mean of three samples, the sample after a change is skipped.
func TestAdapter(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		samples []float64
		want    []int
	}{
		// Per-connection throttled: each step multiplies the rate, up to the maximum.
		{"throttled host", 8, []float64{20, 20, 20, 0, 80, 80, 80, 0, 160, 160, 160, 160},
			[]int{1, 1, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8}},
		{"throttled host, more allowed", 32, []float64{20, 20, 20, 0, 80, 80, 80, 0, 320, 320, 320, 0, 640, 640, 640},
			[]int{1, 1, 4, 4, 4, 4, 16, 16, 16, 16, 32, 32, 32, 32, 32}},
		// One noisy sample does not undo a good step: the mean decides.
		{"noisy samples", 8, []float64{20, 20, 20, 0, 80, 30, 130, 0, 160, 60, 260},
			[]int{1, 1, 4, 4, 4, 4, 8, 8, 8, 8, 8}},
		// Line rate on one connection: more gain nothing and are given back; after
		// reprobeAfter samples it tries again.
		{"fast host", 8, append(append([]float64{700, 700, 700, 0, 690, 700, 710}, rep(700, reprobeAfter-1)...), 700, 700, 700),
			append(append([]int{1, 1, 4, 4, 4, 4, 1}, repInt(1, reprobeAfter-1)...), 1, 1, 4)},
		// A host capped at 2 connections: 4 gain 100%, 8 nothing: back to 4.
		{"host limit", 8, []float64{20, 20, 20, 0, 40, 40, 40, 0, 41, 41, 41},
			[]int{1, 1, 4, 4, 4, 4, 8, 8, 8, 8, 4}},
		{"one allowed", 1, []float64{20, 20, 20, 0, 40}, []int{1, 1, 1, 1, 1}},
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
