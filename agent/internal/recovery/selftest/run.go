package selftest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/apierr"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/faultserver"
)

// UnitChecks runs the agent runner's unit checks within [recovery] max_test_duration.
func (p *Suite) UnitChecks(ctx context.Context) []recovery.CheckResult {
	ctx, cancel := context.WithTimeout(ctx, p.agent.Options().MaxTestDuration)
	defer cancel()
	return p.agent.SelfTest(ctx)
}

// SelfTestResults is the test_results of POST /api/recovery/test: each unit check's verdict by
// name, "overall" PASS or FAIL, and the details.
func (p *Suite) SelfTestResults(ctx context.Context) map[string]any {
	res := p.UnitChecks(ctx)
	out := map[string]any{}
	overall := "PASS"
	for _, c := range res {
		out[c.Name] = c.Passed
		if !c.Passed {
			overall = "FAIL"
		}
	}
	out["overall"] = overall
	out["details"] = res
	return out
}

// Catalogue returns the scenarios, each with the time budget it gets under the configured
// policies.
func (p *Suite) Catalogue() []Scenario {
	list := Scenarios()
	for i := range list {
		list[i].DurationSeconds = list[i].budget(p.agent.Options()).Seconds()
	}
	return list
}

// ScenarioResult is one scenario's outcome.
type ScenarioResult struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Category string  `json:"category"`
	Group    string  `json:"group"`
	Passed   bool    `json:"passed"`
	Details  string  `json:"details,omitempty"`
	Error    string  `json:"error,omitempty"`
	Seconds  float64 `json:"duration_seconds"`
}

// RunScenarios runs the named scenarios (all when ids is empty) one after another within
// budget; a scenario that does not finish in its own budget fails.
func (p *Suite) RunScenarios(ctx context.Context, ids []string, budget time.Duration) ([]ScenarioResult, error) {
	all := Scenarios()
	var pick []Scenario
	if len(ids) == 0 {
		pick = all
	}
	for _, id := range ids {
		found := false
		for _, s := range all {
			if s.ID == id {
				pick, found = append(pick, s), true
			}
		}
		if !found {
			return nil, apierr.Newf(apierr.Invalid, "ValidationError", "unknown scenario %q", id).
				Suggest("GET /api/recovery/testing/scenarios lists the scenario ids")
		}
	}
	srv, err := faultserver.Start(scenarioBytes, scenarioSeed)
	if err != nil {
		return nil, recovery.APIError(err, "start the loopback fault server")
	}
	defer srv.Close()
	sc, err := newScratch(p.agent.Options().ScratchDir)
	if err != nil {
		return nil, recovery.APIError(err, "create the scenarios' scratch stores")
	}
	defer sc.close()
	env := &scenarioEnv{srv: srv, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, opts: p.agent.Options(), lim: p.dl, scratch: sc}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var out []ScenarioResult
	for _, s := range pick {
		res := ScenarioResult{ID: s.ID, Name: s.Name, Category: s.Category, Group: s.Group}
		sctx, scancel := context.WithTimeout(ctx, s.budget(p.agent.Options()))
		start := time.Now()
		details, err := runGuarded(sctx, s, env)
		expired := sctx.Err() != nil
		scancel()
		res.Seconds = time.Since(start).Seconds()
		res.Passed = err == nil
		res.Details = details
		if err != nil {
			res.Error = err.Error()
			if expired {
				res.Error += fmt.Sprintf(" (ran out of time: scenario budget %s with the configured backoff, request budget %s)", s.budget(p.agent.Options()).Round(time.Millisecond), budget)
			}
		}
		out = append(out, res)
	}
	return out, nil
}

func runGuarded(ctx context.Context, s Scenario, env *scenarioEnv) (details string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("scenario panicked: %v", p)
		}
	}()
	return s.run(ctx, env)
}

// RunTests runs the named scenarios within [recovery] max_test_duration and summarises them as
// the test_results of POST /api/recovery/testing/run; with no names it runs every scenario and
// the unit checks.
func (p *Suite) RunTests(ctx context.Context, ids []string) (map[string]any, error) {
	results, err := p.RunScenarios(ctx, ids, p.agent.Options().MaxTestDuration)
	if err != nil {
		return nil, err
	}
	var units []recovery.CheckResult
	if len(ids) == 0 {
		units = p.UnitChecks(ctx)
	}
	out := summarize(units, results)
	ran := make([]string, len(results))
	for i, r := range results {
		ran[i] = r.ID
	}
	out["run"] = p.describe(map[string]any{
		"scenarios": ran, "unit_checks": len(ids) == 0, "file_bytes": scenarioBytes,
		"stall_timeout": ScenarioStallTimeout.String(), "budget": p.agent.Options().MaxTestDuration.String(),
	})
	return out, nil
}

type groupSummary struct {
	Passed      int     `json:"passed"`
	Failed      int     `json:"failed"`
	SuccessRate float64 `json:"success_rate"`
}

type failedDetail struct {
	TestName string `json:"test_name"`
	Error    string `json:"error"`
	Category string `json:"category"`
}

func summarize(units []recovery.CheckResult, results []ScenarioResult) map[string]any {
	groups := map[string]*groupSummary{}
	var failed []failedDetail
	add := func(group, name, category string, passed bool, errText string) {
		g := groups[group]
		if g == nil {
			g = &groupSummary{}
			groups[group] = g
		}
		if passed {
			g.Passed++
		} else {
			g.Failed++
			failed = append(failed, failedDetail{TestName: name, Error: errText, Category: category})
		}
	}
	for _, u := range units {
		add("unit_tests", u.Name, "unit", u.Passed, u.Details)
	}
	for _, s := range results {
		add(s.Group, s.ID, s.Category, s.Passed, s.Error)
	}
	total, passed := 0, 0
	for _, g := range groups {
		n := g.Passed + g.Failed
		total += n
		passed += g.Passed
		if n > 0 {
			g.SuccessRate = float64(g.Passed) / float64(n)
		}
	}
	rate := 0.0
	if total > 0 {
		rate = float64(passed) / float64(total)
	}
	if failed == nil {
		failed = []failedDetail{}
	}
	return map[string]any{
		"total_tests":         total,
		"passed_tests":        passed,
		"failed_tests":        total - passed,
		"success_rate":        rate,
		"test_summary":        groups,
		"failed_test_details": failed,
		"scenarios":           results,
		"unit_checks":         units,
	}
}
