// Package configtest gives tests an agent configuration that cannot reach the internet: every
// URL the agent fetches from by itself (ComfyUI-Manager's data files, the Hugging Face and
// CivitAI APIs, the ComfyUI repository) points at a loopback server that answers 404, so a test
// never waits on DNS or a download, and Check names any such URL that a test left pointing
// elsewhere.
package configtest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// nowhere is the loopback server every test URL points at; one per test binary, so helper
// processes and tests without a testing.TB can use it too.
var nowhere = sync.OnceValue(func() string {
	return httptest.NewServer(http.NotFoundHandler()).URL
})

// URL is a loopback URL under the 404 server: what a test sets a remote URL to when it wants the
// fetch to fail at once, as on a node without internet.
func URL(path string) string { return nowhere() + "/" + strings.TrimPrefix(path, "/") }

// Offline returns config.Default() with every remote URL pointed at the loopback 404 server.
func Offline() *config.Config {
	c := config.Default()
	m := &c.Manager
	m.ExtensionNodeMapURL = URL("manager/extension-node-map.json")
	m.GithubStatsURL = URL("manager/github-stats.json")
	m.ModelListURL = URL("manager/model-list.json")
	m.CustomNodeListURL = URL("manager/custom-node-list.json")
	// The agent keys source credentials by host name: the two hubs get different ones, so a
	// token of one is never sent to the other.
	c.Sources.HuggingFace.Endpoint = strings.Replace(URL("huggingface"), "127.0.0.1", "localhost", 1)
	c.Sources.CivitAI.Endpoint = URL("civitai")
	c.ComfyUI.Repo = URL("ComfyUI.git")
	return c
}

// TOML is Offline's remote URLs as launcher.toml tables, for tests that run the binary. keys
// are further or overriding `table.key = value` lines ("manager.max_age = \"876000h\"",
// "comfyui.repo = \"/tmp/fixture.git\""): TOML defines a table once, so the tables these keys
// belong in are written here only.
func TOML(keys ...string) string {
	c := Offline()
	lines := []string{
		fmt.Sprintf("manager.extension_node_map_url = %q", c.Manager.ExtensionNodeMapURL),
		fmt.Sprintf("manager.github_stats_url = %q", c.Manager.GithubStatsURL),
		fmt.Sprintf("manager.model_list_url = %q", c.Manager.ModelListURL),
		fmt.Sprintf("manager.custom_node_list_url = %q", c.Manager.CustomNodeListURL),
		fmt.Sprintf("sources.huggingface.endpoint = %q", c.Sources.HuggingFace.Endpoint),
		fmt.Sprintf("sources.civitai.endpoint = %q", c.Sources.CivitAI.Endpoint),
		fmt.Sprintf("comfyui.repo = %q", c.ComfyUI.Repo),
	}
	var tables []string
	values := map[string][]string{} // table -> "key = value" lines
	for _, l := range append(lines, keys...) {
		path, value, _ := strings.Cut(l, "=")
		path = strings.TrimSpace(path)
		i := strings.LastIndexByte(path, '.')
		table, line := path[:max(i, 0)], strings.TrimSpace(path[i+1:])+" ="+value
		if _, ok := values[table]; !ok {
			tables = append(tables, table)
		}
		values[table] = setKey(values[table], line)
	}
	var b strings.Builder
	for _, t := range tables {
		fmt.Fprintf(&b, "\n[%s]\n%s\n", t, strings.Join(values[t], "\n"))
	}
	return b.String()
}

// setKey replaces the line of line's key in lines, or appends it.
func setKey(lines []string, line string) []string {
	key, _, _ := strings.Cut(line, " =")
	for i, l := range lines {
		if k, _, _ := strings.Cut(l, " ="); k == key {
			lines[i] = line
			return lines
		}
	}
	return append(lines, line)
}

// Check returns an error naming each key of c whose URL leaves loopback: a test agent built
// from c could wait on DNS or reach the internet. Local paths (a fixture repository) are fine.
func Check(c *config.Config) error {
	var errs []error
	for _, u := range []struct{ key, url string }{
		{"manager.extension_node_map_url", c.Manager.ExtensionNodeMapURL},
		{"manager.github_stats_url", c.Manager.GithubStatsURL},
		{"manager.model_list_url", c.Manager.ModelListURL},
		{"manager.custom_node_list_url", c.Manager.CustomNodeListURL},
		{"sources.huggingface.endpoint", c.Sources.HuggingFace.Endpoint},
		{"sources.civitai.endpoint", c.Sources.CivitAI.Endpoint},
		{"comfyui.repo", c.ComfyUI.Repo},
	} {
		if !local(u.url) {
			errs = append(errs, fmt.Errorf("%s = %q", u.key, u.url))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("test config reaches beyond loopback (start from configtest.Offline, or point these at a loopback fixture):\n%w", err)
	}
	return nil
}

// Require fails the test at once when Check finds a URL that leaves loopback.
func Require(t testing.TB, c *config.Config) {
	t.Helper()
	if err := Check(c); err != nil {
		t.Fatal(err)
	}
}

// local reports whether s is a loopback URL or no URL at all (a path). An empty URL counts as
// remote: the agent replaces it with the default one.
func local(s string) bool {
	if s == "" {
		return false
	}
	if !strings.Contains(s, "://") {
		return !strings.Contains(s, "@") // a path, not scp-style git@host:repo
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Scheme == "file" || config.IsLoopbackHost(u.Hostname()))
}
