package faultserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	body := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name       string
		fault      Fault
		timeout    time.Duration
		wantStatus int
		check      func(error) bool
	}{
		{"ok", Fault{Kind: OK}, time.Second, 200, func(err error) bool { return err == nil }},
		{"reset", Fault{Kind: Reset}, time.Second, 0, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) }},
		{"stall", Fault{Kind: Stall, Delay: 5 * time.Second}, 50 * time.Millisecond, 0, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"status", Fault{Kind: Status, Status: 503, RetryAfter: "3"}, time.Second, 503, func(err error) bool { return err == nil }},
		{"truncate", Fault{Kind: Truncate}, time.Second, 200, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := srv.Route(body, tt.fault)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			w := NewCappedWriter("x", 1<<20)
			status, hdr, err := Fetch(ctx, client, url, w)
			if !tt.check(err) || status != tt.wantStatus {
				t.Fatalf("status %d err %v", status, err)
			}
			if tt.fault.RetryAfter != "" && hdr.Get("Retry-After") != tt.fault.RetryAfter {
				t.Fatalf("Retry-After = %q", hdr.Get("Retry-After"))
			}
			if srv.Hits(url) != 1 {
				t.Fatalf("hits = %d", srv.Hits(url))
			}
		})
	}
	url := srv.Route(body, Fault{Kind: Corrupt})
	w := NewCappedWriter("x", 1<<20)
	if _, _, err := Fetch(context.Background(), client, url, w); err != nil || SHA256(w.Bytes()) == SHA256(body) {
		t.Fatalf("corrupt fault delivered the original body (err %v)", err)
	}
}

func TestCappedWriter(t *testing.T) {
	w := NewCappedWriter("/models/a.part", 5)
	n, err := w.Write([]byte("abc"))
	if n != 3 || err != nil {
		t.Fatalf("write within cap: %d %v", n, err)
	}
	n, err = w.Write([]byte("defg"))
	if n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past cap: %d %v, want 2 bytes then ENOSPC", n, err)
	}
	w.SetLimit(100)
	if _, err := w.Write([]byte("g")); err != nil || string(w.Bytes()) != "abcdeg" {
		t.Fatalf("after freeing space: %q %v", w.Bytes(), err)
	}
}
