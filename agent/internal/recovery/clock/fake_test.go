package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeAdvance(t *testing.T) {
	tests := []struct {
		name    string
		timers  []time.Duration
		advance time.Duration
		want    []int
	}{
		{"nothing due", []time.Duration{time.Second}, 999 * time.Millisecond, nil},
		{"due exactly at deadline", []time.Duration{time.Second}, time.Second, []int{0}},
		{"deadline order", []time.Duration{3 * time.Second, time.Second, 2 * time.Second}, 5 * time.Second, []int{1, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewFake(time.Unix(0, 0))
			var got []int
			for i, d := range tt.timers {
				c.AfterFunc(d, func() { got = append(got, i) })
			}
			c.Advance(tt.advance)
			if len(got) != len(tt.want) {
				t.Fatalf("fired %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("fired %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestTimerCreatedByCallbackCountsFromNewTime(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	fired := 0
	c.AfterFunc(time.Second, func() {
		fired++
		c.AfterFunc(time.Second, func() { fired++ })
	})
	c.Advance(time.Minute)
	if fired != 1 || c.Pending() != 1 {
		t.Fatalf("fired %d pending %d: a timer made during Advance fired in the same Advance", fired, c.Pending())
	}
}

func TestStopAndSleep(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	tm := c.AfterFunc(time.Second, func() { t.Fatal("stopped timer fired") })
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop should report true once")
	}
	c.Advance(time.Hour)

	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), c, 10*time.Second) }()
	c.WaitPending(1, nil)
	c.Advance(10 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, c, time.Second); err == nil {
		t.Fatal("Sleep ignored a cancelled context")
	}
}
