// Package selftesthttp serves the recovery self-test endpoints of recovery/selftest over the
// agent's HTTP API: POST /api/recovery/test, GET /api/recovery/testing/scenarios, POST
// /api/recovery/testing/run, POST /api/recovery/performance/validate and /benchmark. It only
// decodes requests and writes the spec's envelopes; the runs themselves are selftest.Suite's.
package selftesthttp

import (
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/comfylauncher/launcher/agent/internal/api"
	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery/selftest"
)

// Routes registers the self-test, scenario and measured endpoints of s.
func Routes(rt *httprouter.Router, s *selftest.Suite) {
	h := handlers{s}
	rt.POST("/api/recovery/test", h.selfTest)
	rt.GET("/api/recovery/testing/scenarios", h.scenarios)
	rt.POST("/api/recovery/testing/run", h.runScenarios)
	rt.POST("/api/recovery/performance/validate", h.validate)
	rt.POST("/api/recovery/performance/benchmark", h.benchmark)
}

type handlers struct{ s *selftest.Suite }

func (h handlers) selfTest(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "test_results": h.s.SelfTestResults(req.Context())})
}

func (h handlers) scenarios(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "scenarios": h.s.Catalogue()})
}

type runScenariosRequest struct {
	Scenarios []string `json:"scenarios"`
}

func (h handlers) runScenarios(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	var body runScenariosRequest
	if err := decode(w, req, &body, 64<<10); err != nil {
		api.WriteError(w, req, err)
		return
	}
	results, err := h.s.RunTests(req.Context(), body.Scenarios)
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "test_results": results})
}

func (h handlers) validate(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	var body selftest.ValidateRequest
	if err := decode(w, req, &body, 4096); err != nil {
		api.WriteError(w, req, err)
		return
	}
	res, err := h.s.Validate(req.Context(), body)
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "validation_results": res})
}

func (h handlers) benchmark(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	var body selftest.BenchmarkRequest
	if err := decode(w, req, &body, 64<<10); err != nil {
		api.WriteError(w, req, err)
		return
	}
	res, err := h.s.Benchmark(req.Context(), body)
	if err != nil {
		api.WriteError(w, req, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "benchmark_results": res})
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
