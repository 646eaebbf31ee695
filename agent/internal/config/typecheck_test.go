package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeTypeErrors: every wrong type names the key (dotted), its line, what the key takes
// in TOML words and the fix, never a Go type.
func TestDecodeTypeErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"duration as an integer", "[comfyui]\nready_timeout = 30\n",
			`line 2: comfyui.ready_timeout = 30 is an integer; expected a duration string like "30s" or "5m": write ready_timeout = "30s" if you meant seconds`},
		{"duration as a float, dotted key", "comfyui.stop_grace = 2.5\n",
			`line 1: comfyui.stop_grace = 2.5 is a float; expected a duration string like "30s" or "5m": write comfyui.stop_grace = "2.5s" if you meant seconds`},
		{"duration without a unit", "[server]\nshutdown_timeout = \"soon\"\n",
			`line 2: server.shutdown_timeout = "soon" is not a duration; expected a duration string like "30s" or "5m": write shutdown_timeout = "30s"`},
		{"integer as a string", "[paths]\n\n[ports]\nmin = \"4001\"\n",
			`line 4: ports.min = "4001" is a string; expected an integer: write min = 4001 (no quotes)`},
		{"integer as a float", "[ports]\nmax = 4100.5\n",
			`line 2: ports.max = 4100.5 is a float; expected an integer: write max = 4100 (a whole number)`},
		{"string as an integer", "[server]\nlisten = 4000\n",
			`line 2: server.listen = 4000 is an integer; expected a string: write listen = "4000" (in quotes)`},
		{"boolean as a string", "[server]\ndebug = \"true\"\n",
			`line 2: server.debug = "true" is a string; expected a boolean (true or false): write debug = true (no quotes)`},
		{"list as one string", "[server]\ncors_origins = \"http://ui.example\"\n",
			`line 2: server.cors_origins = "http://ui.example" is a string; expected an array of strings: write cors_origins = ["http://ui.example"]`},
		{"wrong list element", "[comfyui]\nlaunch_args = [\"--cpu\", 8188]\n",
			`line 2: comfyui.launch_args[1] = 8188 is an integer; expected a string: write the element as "8188" (in quotes)`},
		{"table as a value", "server = \"127.0.0.1:4000\"\n",
			`line 1: server = "127.0.0.1:4000" is a string; expected a table: put its keys under a [server] section`},
		{"nested table key", "[recovery.breaker]\nthreshold = \"five\"\n",
			`line 2: recovery.breaker.threshold = "five" is a string; expected an integer: write threshold = 10 (a whole number, no quotes)`},
		{"array of tables with single brackets", "[projects]\nid = \"a\"\n",
			`line 1: [projects] is a table header, but projects is an array of tables: write [[projects]] (double brackets) once per entry`},
		{"single table with double brackets", "[[ports]]\nmin = 4001\n",
			`line 1: [[ports]] is an array-of-tables header, but ports is a single table: write [ports] (single brackets)`},
		{"key inside an array table", "[[projects]]\nid = \"a\"\nport = \"8188\"\n",
			`line 3: projects.port = "8188" is a string; expected an integer: write port = 8188 (no quotes)`},
		{"inline table value", "[[projects]]\nid = \"a\"\nenv = { CUDA_VISIBLE_DEVICES = 0 }\n",
			`line 3: projects.env.CUDA_VISIBLE_DEVICES = 0 is an integer; expected a string: write CUDA_VISIBLE_DEVICES = "0" (in quotes)`},
		{"size as a boolean", "[downloads]\nparallel_min_size = true\n",
			`line 2: downloads.parallel_min_size = true is a boolean; expected a size like "64MiB" or a number of bytes: write parallel_min_size = "64MiB"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Decode([]byte(tc.body), Default())
			if err == nil {
				t.Fatal("expected an error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n  %s\nwant it to start with\n  %s", err, tc.want)
			}
			for _, goWord := range []string{"config.", "struct", "int64", "toml:"} {
				if strings.Contains(err.Error(), goWord) {
					t.Errorf("error %q names Go internals (%q)", err, goWord)
				}
			}
		})
	}
}

// TestDecodeAcceptsEveryTOMLSpelling: the checker refuses nothing the decoder accepts.
func TestDecodeAcceptsEveryTOMLSpelling(t *testing.T) {
	body := `
[server]
listen = "127.0.0.1:4000"
cors_origins = ["http://a", "http://b"]
debug = false
shutdown_timeout = "10s"
[downloads]
parallel_min_size = 1048576
checkpoint_size = "8MiB"
disk_margin_percent = 2
[gpu]
fake = [{ memory_total_mb = 24564 }]
[recovery.breaker]
threshold = 5
[[projects]]
id = "a"
gpu = [0, 1]
env = { A = "1" }
[[projects]]
id = "b"
gpu = "auto"
`
	c := Default()
	if err := Decode([]byte(body), c); err != nil {
		t.Fatal(err)
	}
	if len(c.Projects) != 2 || c.Server.ShutdownTimeout.Seconds() != 10 || c.Downloads.ParallelMinSize != 1<<20 {
		t.Fatalf("decoded %+v", c)
	}
}

// TestShippedConfigsDecode: the repository's documented configs pass the type checker.
func TestShippedConfigsDecode(t *testing.T) {
	files, _ := filepath.Glob("../../../configs/*.toml")
	files = append(files, "../../../launcher.toml")
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := Decode(data, Default()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
