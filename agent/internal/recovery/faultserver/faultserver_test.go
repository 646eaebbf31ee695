package faultserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"
)

// get fetches url with an optional Range and returns the status, header and the body's sha256.
func get(ctx context.Context, url, rng string) (int, http.Header, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	h := sha256.New()
	_, err = io.Copy(h, resp.Body)
	return resp.StatusCode, resp.Header, hex.EncodeToString(h.Sum(nil)), err
}

func TestFaults(t *testing.T) {
	t.Parallel()
	srv := NewFile(64<<10, 1)
	defer srv.Close()
	tests := []struct {
		name       string
		fault      FileFault
		timeout    time.Duration
		wantStatus int
		check      func(err error, sum string) bool
	}{
		{"ok", FileFault{}, time.Second, 200, func(err error, sum string) bool { return err == nil && sum == srv.SHA256() }},
		{"latency", FileFault{Delay: 20 * time.Millisecond}, time.Second, 200, func(err error, sum string) bool { return err == nil && sum == srv.SHA256() }},
		{"reset", FileFault{ResetAfter: 1000}, time.Second, 200, func(err error, _ string) bool {
			return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)
		}},
		{"stall", FileFault{StallAfter: 1000}, 100 * time.Millisecond, 200, func(err error, _ string) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"status", FileFault{Status: 503, RetryAfter: "3"}, time.Second, 503, func(err error, _ string) bool { return err == nil }},
		{"truncate", FileFault{TruncateAfter: 1000}, time.Second, 200, func(err error, _ string) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"corrupt", FileFault{Corrupt: 5000}, time.Second, 200, func(err error, sum string) bool { return err == nil && sum != srv.SHA256() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := srv.Add(64<<10, 1, tt.fault)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			status, hdr, sum, err := get(ctx, f.URL(), "")
			if !tt.check(err, sum) || status != tt.wantStatus {
				t.Fatalf("status %d err %v", status, err)
			}
			if tt.fault.RetryAfter != "" && hdr.Get("Retry-After") != tt.fault.RetryAfter {
				t.Fatalf("Retry-After = %q", hdr.Get("Retry-After"))
			}
			if f.Requests() != 1 || len(f.Times()) != 1 {
				t.Fatalf("requests = %d", f.Requests())
			}
			if tt.fault.StallAfter > 0 {
				select {
				case <-f.AbortedC():
				case <-time.After(10 * time.Second):
					t.Fatal("the stalled response never saw the client go away")
				}
			}
			// The queue is used up: the next request gets the file.
			if _, _, sum, err := get(context.Background(), f.URL(), ""); err != nil || sum != srv.SHA256() {
				t.Fatalf("after the fault: %v", err)
			}
		})
	}
}

// TestPlans: Always and Every shape the requests after the queue; files are separate; Range and
// If-Range are honoured like a CDN; any other path is the first file.
func TestPlans(t *testing.T) {
	t.Parallel()
	srv := NewFile(4096, 2)
	defer srv.Close()
	f := srv.Add(4096, 3)
	f.Always(FileFault{Status: 404})
	f.Every(3, FileFault{Status: 502})
	var got []int
	for range 4 {
		status, _, _, _ := get(context.Background(), f.URL(), "")
		got = append(got, status)
	}
	if want := []int{404, 404, 502, 404}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if srv.Requests() != 0 {
		t.Errorf("the main file saw %d requests of another file", srv.Requests())
	}
	if status, hdr, _, _ := get(context.Background(), srv.URL(), "bytes=100-"); status != 206 || hdr.Get("Content-Range") != "bytes 100-4095/4096" || hdr.Get("ETag") != srv.ETag() {
		t.Errorf("range: %d %v", status, hdr)
	}
	if starts := srv.RangeStarts(); len(starts) != 1 || starts[0] != 100 {
		t.Errorf("range starts %v", starts)
	}
	if status, _, sum, _ := get(context.Background(), srv.BaseURL()+"/any/name", ""); status != 200 || sum != srv.SHA256() || srv.Requests() != 2 {
		t.Errorf("another path: %d, requests %d", status, srv.Requests())
	}
}
