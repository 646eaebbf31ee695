package workflowhttp_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/workflow"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowhttp"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

// BenchmarkPreviewHTTPLargestCorpus: POST /api/workflow/preview with the largest corpus workflow
// over loopback HTTP, through the API server's real middleware chain and the real handler, with
// the real Manager data. Each iteration sends the request and reads the whole answer.
func BenchmarkPreviewHTTPLargestCorpus(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(workflowtest.CorpusDir(b, "workflows"), "ltxvideo__LTX-2_ICLoRA_All_Distilled.json"))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"workflow_json": ` + string(raw) + `}`)
	srv := api.New(api.Options{})
	workflowhttp.Routes(srv.Router, workflow.NewService(workflow.Options{Manager: workflowtest.SeededManager(b)}), "")
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	client := ts.Client()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer workflowtest.ReportCPU(b)()
	for b.Loop() {
		resp, err := client.Post(ts.URL+"/api/workflow/preview", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("preview: status %d, %v", resp.StatusCode, err)
		}
	}
}
