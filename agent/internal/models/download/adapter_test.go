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
		fast    float64
		samples []float64
		want    []int
		busy    []float64 // fraction of each sample the hasher was busy (none: 0)
	}{
		// Per-connection throttled: each step multiplies the rate, up to the maximum.
		{"throttled host", 8, 0, []float64{20, 20, 20, 0, 80, 80, 80, 0, 160, 160, 160, 160},
			[]int{1, 1, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8}, nil},
		{"throttled host, more allowed", 32, 0, []float64{20, 20, 20, 0, 80, 80, 80, 0, 320, 320, 320, 0, 640, 640, 640},
			[]int{1, 1, 4, 4, 4, 4, 16, 16, 16, 16, 32, 32, 32, 32, 32}, nil},
		// One noisy sample does not undo a good step: the mean decides.
		{"noisy samples", 8, 0, []float64{20, 20, 20, 0, 80, 30, 130, 0, 160, 60, 260},
			[]int{1, 1, 4, 4, 4, 4, 8, 8, 8, 8, 8}, nil},
		// Line rate on one connection: more gain nothing and are given back; after
		// reprobeAfter samples it tries again.
		{"fast host", 8, 0, append(append([]float64{700, 700, 700, 0, 690, 700, 710}, rep(700, reprobeAfter-1)...), 700, 700, 700),
			append(append([]int{1, 1, 4, 4, 4, 4, 1}, repInt(1, reprobeAfter-1)...), 1, 1, 4), nil},
		// A host capped at 2 connections: 4 gain 100%, 8 nothing: back to 4.
		{"host limit", 8, 0, []float64{20, 20, 20, 0, 40, 40, 40, 0, 41, 41, 41},
			[]int{1, 1, 4, 4, 4, 4, 8, 8, 8, 8, 4}, nil},
		{"one allowed", 1, 0, []float64{20, 20, 20, 0, 40}, []int{1, 1, 1, 1, 1}, nil},
		// One connection already at the fast rate: no trial of more; after reprobeAfter
		// samples it measures again and, still fast, stays.
		{"fast connection", 8, 500, append(append([]float64{700, 700, 700}, rep(700, reprobeAfter-1)...), 700, 700, 700, 700),
			append(append([]int{1, 1, 1}, repInt(1, reprobeAfter-1)...), 1, 1, 1, 1), nil},
		// The same host slowed down below the fast rate: the reprobe tries more.
		{"fast connection slows", 8, 500, append(append([]float64{700, 700, 700}, rep(100, reprobeAfter-1)...), 100, 100, 100, 0, 400, 400, 400),
			append(append([]int{1, 1, 1}, repInt(1, reprobeAfter-1)...), 1, 1, 4, 4, 4, 4, 8), nil},
		// Per connection below the fast rate, in aggregate above it: the rule is per
		// connection, so a throttled host still grows to the maximum.
		{"throttled host, fast aggregate", 8, 500, []float64{200, 200, 200, 0, 800, 800, 800, 0, 1600, 1600, 1600},
			[]int{1, 1, 4, 4, 4, 4, 8, 8, 8, 8, 8}, nil},
		// Four connections at the fast rate each: no eight.
		{"fast after a step", 32, 500, []float64{200, 200, 200, 0, 2000, 2000, 2000, 0, 2000},
			[]int{1, 1, 4, 4, 4, 4, 4, 4, 4}, nil},
		// One connection below the fast rate whose hasher is busy most of the time: the CPU
		// is the limit, so no trial of more (whose bytes would need reading back).
		{"hash-bound connection", 8, 500, []float64{200, 200, 200, 200, 200},
			[]int{1, 1, 1, 1, 1}, []float64{0.7, 0.6, 0.8, 0.7, 0.7}},
		// A busy sample, or a mean below hashBound, is not hash-bound.
		{"hasher busy below the bound", 8, 500, []float64{200, 200, 200, 0, 800},
			[]int{1, 1, 4, 4, 4}, []float64{0.3, 0.9, 0.2, 0.2, 0}},
		// A throttled host grown to four connections whose hasher then becomes the limit
		// stays at four.
		{"hash-bound after a step", 8, 0, []float64{20, 20, 20, 0, 80, 80, 80, 0, 80},
			[]int{1, 1, 4, 4, 4, 4, 4, 4, 4}, []float64{0, 0, 0, 0, 0.6, 0.6, 0.6, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &adapter{max: tc.max, target: 1, fast: tc.fast}
			for i, r := range tc.samples {
				var busy float64
				if i < len(tc.busy) {
					busy = tc.busy[i]
				}
				if got := c.next(r, busy); got != tc.want[i] {
					t.Fatalf("sample %d (%v): target %d, want %d", i, r, got, tc.want[i])
				}
			}
		})
	}
}
