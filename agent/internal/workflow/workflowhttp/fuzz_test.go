package workflowhttp_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowhttp"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

// FuzzPreviewBody: the preview endpoint answers 200, 400 or 413 with a JSON body for any body.
// Seeds: workflow/testdata/workflows wrapped in {"workflow_json": ...} and
// testdata/fuzz/FuzzPreviewBody.
func FuzzPreviewBody(f *testing.F) {
	workflowtest.AddWorkflowSeeds(f, true)
	r := httprouter.New()
	workflowhttp.Routes(r, testService(f, workflowtest.DefaultCatalog()), "")
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/workflow/preview", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %s", rec.Body.Bytes())
		}
	})
}
