package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

// FuzzParse: any input is analysed or rejected with a client error; never a panic or an
// unclassified error. Seeds: testdata/workflows and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	workflowtest.AddWorkflowSeeds(f, false)
	s := testService(f, workflowtest.DefaultCatalog())
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
