// Package selftesthttp serves the recovery self-test endpoints of recovery/selftest over the
// agent's HTTP API: POST /api/recovery/test, GET /api/recovery/testing/scenarios, POST
// /api/recovery/testing/run, POST /api/recovery/performance/validate and /benchmark. It only
// decodes requests and writes the spec's envelopes; the runs themselves are selftest.Suite's.
package selftesthttp

import (
	"context"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery/selftest"
)

// Routes registers the self-test, scenario and measured endpoints of s.
func Routes(rt *httprouter.Router, s *selftest.Suite) {
	rt.POST("/api/recovery/test", func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
		api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "test_results": s.SelfTestResults(req.Context())})
	})
	rt.GET("/api/recovery/testing/scenarios", func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
		api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "scenarios": s.Catalogue()})
	})
	rt.POST("/api/recovery/testing/run", run("test_results", 64<<10, func(ctx context.Context, body runScenariosRequest) (map[string]any, error) {
		return s.RunTests(ctx, body.Scenarios)
	}))
	rt.POST("/api/recovery/performance/validate", run("validation_results", 4096, s.Validate))
	rt.POST("/api/recovery/performance/benchmark", run("benchmark_results", 64<<10, s.Benchmark))
}

type runScenariosRequest struct {
	Scenarios []string `json:"scenarios"`
}

// run is a handler that decodes the optional body (at most limit bytes) into a Req, runs it and
// answers {"success": true, key: result}, or the error's envelope.
func run[Req, Res any](key string, limit int64, fn func(context.Context, Req) (Res, error)) httprouter.Handle {
	return func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
		var body Req
		if err := decode(w, req, &body, limit); err != nil {
			api.WriteError(w, req, err)
			return
		}
		res, err := fn(req.Context(), body)
		if err != nil {
			api.WriteError(w, req, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, key: res})
	}
}

// decode reads an optional JSON body: every field of these requests has a documented default,
// so an empty body runs with the defaults.
func decode(w http.ResponseWriter, req *http.Request, v any, limit int64) error {
	if req.ContentLength == 0 {
		return nil
	}
	err := api.DecodeJSON(w, req, v, limit)
	if err != nil && apierr.Is(err, apierr.Invalid) && strings.Contains(err.Error(), "request body is empty") {
		return nil
	}
	return err
}
