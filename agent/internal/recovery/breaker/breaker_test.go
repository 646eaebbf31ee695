package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery/clock"
)

type step struct {
	op        string // "ok", "fail", "excl", "wait", "allow" (admission only, result later via "finish")
	wait      time.Duration
	wantState State
	wantErr   error // for admission
}

func TestBreakerTable(t *testing.T) {
	three := func(c Counts) bool { return c.ConsecutiveFailures >= 3 }
	tests := []struct {
		name  string
		set   Settings
		steps []step
	}{
		{
			name: "trips after threshold, half-opens after timeout, closes on success",
			set:  Settings{ReadyToTrip: three, Timeout: 30 * time.Second},
			steps: []step{
				{op: "fail", wantState: Closed},
				{op: "fail", wantState: Closed},
				{op: "fail", wantState: Open},
				{op: "ok", wantErr: ErrOpen, wantState: Open},
				{op: "wait", wait: 29 * time.Second, wantState: Open},
				{op: "wait", wait: 2 * time.Second, wantState: HalfOpen},
				{op: "ok", wantState: Closed},
			},
		},
		{
			name: "failure in half-open reopens with a fresh timeout",
			set:  Settings{ReadyToTrip: three, Timeout: 10 * time.Second},
			steps: []step{
				{op: "fail"}, {op: "fail"}, {op: "fail", wantState: Open},
				{op: "wait", wait: 10 * time.Second, wantState: HalfOpen},
				{op: "fail", wantState: Open},
				{op: "wait", wait: 9 * time.Second, wantState: Open},
				{op: "wait", wait: time.Second, wantState: HalfOpen},
			},
		},
		{
			name: "excluded errors never trip",
			set:  Settings{ReadyToTrip: three, Timeout: 10 * time.Second},
			steps: []step{
				{op: "excl"}, {op: "excl"}, {op: "excl"}, {op: "excl", wantState: Closed},
				{op: "fail"}, {op: "excl"}, {op: "fail"}, {op: "fail", wantState: Open},
			},
		},
		{
			name: "a success resets the consecutive count",
			set:  Settings{ReadyToTrip: three},
			steps: []step{
				{op: "fail"}, {op: "fail"}, {op: "ok"}, {op: "fail"}, {op: "fail", wantState: Closed},
				{op: "fail", wantState: Open},
			},
		},
		{
			name: "interval clears counts in closed",
			set:  Settings{ReadyToTrip: three, Interval: time.Minute},
			steps: []step{
				{op: "fail"}, {op: "fail"},
				{op: "wait", wait: 61 * time.Second, wantState: Closed},
				{op: "fail"}, {op: "fail", wantState: Closed},
				{op: "fail", wantState: Open},
			},
		},
		{
			name: "default trips on the sixth consecutive failure like gobreaker",
			set:  Settings{},
			steps: []step{
				{op: "fail"}, {op: "fail"}, {op: "fail"}, {op: "fail"}, {op: "fail", wantState: Closed},
				{op: "fail", wantState: Open},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(time.Unix(1000, 0))
			tt.set.Clock = clk
			tt.set.Name = "test"
			b := New(tt.set)
			for i, s := range tt.steps {
				switch s.op {
				case "wait":
					clk.Advance(s.wait)
				default:
					done, err := b.Allow()
					if s.wantErr != nil {
						if !errors.Is(err, s.wantErr) {
							t.Fatalf("step %d: Allow err = %v, want %v", i, err, s.wantErr)
						}
					} else {
						if err != nil {
							t.Fatalf("step %d: Allow: %v", i, err)
						}
						done(map[string]Outcome{"ok": Success, "fail": Failure, "excl": Excluded}[s.op])
					}
				}
				if s.wantState != "" {
					if got := b.State(); got != s.wantState {
						t.Fatalf("step %d (%s): state = %s, want %s", i, s.op, got, s.wantState)
					}
				}
			}
		})
	}
}

func TestHalfOpenAdmitsMaxRequests(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := New(Settings{Name: "x", MaxRequests: 2, Timeout: time.Second, ReadyToTrip: func(c Counts) bool { return c.ConsecutiveFailures >= 1 }, Clock: clk})
	done, _ := b.Allow()
	done(Failure)
	clk.Advance(time.Second)
	d1, err1 := b.Allow()
	d2, err2 := b.Allow()
	_, err3 := b.Allow()
	if err1 != nil || err2 != nil {
		t.Fatalf("two probes should be admitted: %v %v", err1, err2)
	}
	if !errors.Is(err3, ErrTooManyRequests) {
		t.Fatalf("third probe: err = %v, want ErrTooManyRequests", err3)
	}
	d1(Success)
	if b.State() != HalfOpen {
		t.Fatalf("one success of two closed the breaker")
	}
	d2(Success)
	if b.State() != Closed {
		t.Fatalf("state = %s after 2 successes, want CLOSED", b.State())
	}
}

func TestStaleGenerationIgnored(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := New(Settings{Name: "x", Timeout: time.Second, ReadyToTrip: func(c Counts) bool { return c.ConsecutiveFailures >= 1 }, Clock: clk})
	slow, _ := b.Allow() // started while CLOSED
	fast, _ := b.Allow()
	fast(Failure) // opens: new generation
	slow(Failure) // result of the old generation must not count
	if c := b.Counts(); c.TotalFailures != 0 {
		t.Fatalf("counts after open = %+v, want cleared and stale failure ignored", c)
	}
}

func TestTimerAnnouncesHalfOpen(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var mu sync.Mutex
	var got []State
	b := New(Settings{Name: "x", Timeout: 5 * time.Second, ReadyToTrip: func(c Counts) bool { return c.ConsecutiveFailures >= 1 }, Clock: clk,
		OnStateChange: func(_ string, _, to State) { mu.Lock(); got = append(got, to); mu.Unlock() }})
	done, _ := b.Allow()
	done(Failure)
	clk.Advance(5 * time.Second) // nobody calls the breaker: the timer must announce HALF_OPEN
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != Open || got[1] != HalfOpen {
		t.Fatalf("transitions = %v, want [OPEN HALF_OPEN]", got)
	}
	if b.Trips() != 1 {
		t.Fatalf("trips = %d, want 1", b.Trips())
	}
}

func TestOpenErrorNamesBreakerAndTimeLeft(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := New(Settings{Name: "download_model@example.com", Timeout: 30 * time.Second, ReadyToTrip: func(c Counts) bool { return c.ConsecutiveFailures >= 1 }, Clock: clk})
	done, _ := b.Allow()
	done(Failure)
	clk.Advance(10 * time.Second)
	_, err := b.Allow()
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Remaining != 20*time.Second {
		t.Fatalf("err = %v, want OpenError with 20s left", err)
	}
	if want := "circuit breaker download_model@example.com is OPEN after repeated failures; next probe in 20s"; err.Error() != want {
		t.Fatalf("message = %q, want %q", err.Error(), want)
	}
}
