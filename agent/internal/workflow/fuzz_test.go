package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
)

func addWorkflowSeeds(f *testing.F, wrap bool) {
	files, _ := filepath.Glob("testdata/workflows/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if wrap {
			b = append(append([]byte(`{"workflow_json":`), b...), '}')
		}
		f.Add(b)
	}
}

// FuzzParse: any input is analysed or rejected with a client error; never a panic or an
// unclassified error. Seeds: testdata/workflows and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	addWorkflowSeeds(f, false)
	s := testService(f, defaultCatalog())
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := s.Analyze(context.Background(), data)
		if err != nil {
			var ae *apierr.Error
			if !errors.As(err, &ae) || (ae.Kind != apierr.Invalid && ae.Kind != apierr.TooLarge) {
				t.Fatalf("unclassified error %T: %v", err, err)
			}
			return
		}
		if _, err := json.Marshal(a.Metadata); err != nil {
			t.Fatalf("metadata does not marshal: %v", err)
		}
	})
}

// FuzzPreviewBody: the preview endpoint answers 200, 400 or 413 with a JSON body for any body.
// Seeds: testdata/workflows wrapped in {"workflow_json": ...} and testdata/fuzz/FuzzPreviewBody.
func FuzzPreviewBody(f *testing.F) {
	addWorkflowSeeds(f, true)
	r := httprouter.New()
	testService(f, defaultCatalog()).Routes(r)
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
