package download

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/recovery"
)

// TestStatusError: a failed response gets recovery.StatusClass's class; what is retried keeps
// the host's Retry-After, the rest is permanent.
func TestStatusError(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		code       int
		retryAfter string
		class      recovery.Class
		permanent  bool
		wait       time.Duration
	}{
		{401, "", recovery.ClassAuth, true, 0},
		{403, "", recovery.ClassAuth, true, 0},
		{404, "", recovery.ClassNotFound, true, 0},
		{410, "", recovery.ClassNotFound, true, 0},
		{412, "", recovery.ClassIntegrity, true, 0},
		{400, "", recovery.ClassUnknown, true, 0},
		{408, "", recovery.ClassTimeout, false, 0},
		{504, "", recovery.ClassTimeout, false, 0},
		{429, "7", recovery.ClassNetwork, false, 7 * time.Second},
		{503, now.Add(time.Minute).Format(http.TimeFormat), recovery.ClassNetwork, false, time.Minute},
		{500, "soon", recovery.ClassNetwork, false, 0},
	} {
		u, _ := url.Parse("https://hf.example/m.safetensors")
		resp := &http.Response{StatusCode: tt.code, Status: http.StatusText(tt.code), Header: http.Header{}, Request: &http.Request{URL: u}}
		if tt.retryAfter != "" {
			resp.Header.Set("Retry-After", tt.retryAfter)
		}
		e := statusError(resp, now)
		if e.Class != tt.class || e.Class != recovery.StatusClass(tt.code) || e.Permanent != tt.permanent || e.RetryAfter != tt.wait || e.Status != tt.code {
			t.Errorf("%d: class %s permanent %v wait %s, want %s %v %s", tt.code, e.Class, e.Permanent, e.RetryAfter, tt.class, tt.permanent, tt.wait)
		}
		if gated := strings.Contains(e.Error(), "configure a token for hf.example"); gated != (tt.code == 401 || tt.code == 403) {
			t.Errorf("%d: %q", tt.code, e.Error())
		}
	}
}
