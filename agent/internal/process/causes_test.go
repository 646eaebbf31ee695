package process

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	spec := Spec{Python: "/p/venv/bin/python", Port: 4001}
	tests := []struct {
		name      string
		lines     string
		cause     string
		msg, sugg string
	}{
		{name: "errno 98", lines: "Traceback (most recent call last):\nOSError: [Errno 98] error while attempting to bind on address ('127.0.0.1', 4001): address already in use",
			cause: CausePortInUse, msg: "port 4001", sugg: "port 4001"},
		{name: "torch OOM", lines: "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.",
			cause: CauseCUDAOOM, msg: "Tried to allocate", sugg: "--lowvram"},
		{name: "old torch OOM", lines: "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB",
			cause: CauseCUDAOOM, sugg: "--lowvram"},
		{name: "top-level missing module", lines: "Traceback (most recent call last):\n  File \"main.py\", line 1\nModuleNotFoundError: No module named 'yaml'",
			cause: CauseMissingModule, msg: `"yaml"`, sugg: "/p/venv/bin/python -m pip install pyyaml"},
		{name: "custom node failure names the node and its module",
			lines: "Traceback (most recent call last):\nModuleNotFoundError: No module named 'onnxruntime'\n\nCannot import /c/custom_nodes/ComfyUI-Foo module for custom nodes: No module named 'onnxruntime'\nImport times for custom nodes:\n   0.0 seconds (IMPORT FAILED): /c/custom_nodes/ComfyUI-Foo",
			cause: CauseCustomNodeImport, msg: "ComfyUI-Foo", sugg: "pip install onnxruntime"},
		{name: "import failed summary only", lines: "Import times for custom nodes:\n   0.1 seconds (IMPORT FAILED): /c/custom_nodes/Bar",
			cause: CauseCustomNodeImport, msg: "custom node Bar", sugg: "custom_nodes/Bar"},
		{name: "missing module after a tolerated node failure",
			lines: "Cannot import /c/custom_nodes/Foo module for custom nodes: boom\nTraceback (most recent call last):\nModuleNotFoundError: No module named 'torchsde'",
			cause: CauseMissingModule, msg: "torchsde"},
		{name: "unknown names the exception", lines: "Traceback (most recent call last):\n  File \"x.py\", line 3\n    raise ValueError('bad')\nValueError: bad\nsome trailing info",
			cause: CauseUnknown, msg: "ValueError: bad"},
		{name: "no output", lines: "", cause: CauseUnknown, msg: "without output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := classify(strings.Split(tc.lines, "\n"), spec)
			if c.Cause != tc.cause {
				t.Fatalf("cause %s, want %s (%s)", c.Cause, tc.cause, c.Message)
			}
			if !strings.Contains(c.Message, tc.msg) {
				t.Errorf("message %q lacks %q", c.Message, tc.msg)
			}
			if len(c.Suggestions) == 0 || !strings.Contains(strings.Join(c.Suggestions, "\n"), tc.sugg) {
				t.Errorf("suggestions %q lack %q", c.Suggestions, tc.sugg)
			}
		})
	}
}

func TestLevels(t *testing.T) {
	t.Parallel()
	var lv leveler
	tests := []struct{ line, want string }{
		{"Total VRAM 24564 MB, total RAM 64000 MB", LevelInfo},
		{"WARNING: some node is deprecated", LevelWarning},
		{"UserWarning: TypedStorage is deprecated", LevelWarning},
		{"Traceback (most recent call last):", LevelError},
		{"  File \"main.py\", line 3, in <module>", LevelError},
		{"    import foo", LevelError},
		{"ImportError: cannot import name 'x'", LevelError},
		{"Prompt executed in 1.2 seconds", LevelInfo},
		{"!!! Exception during processing !!!", LevelError},
		{"   0.0 seconds (IMPORT FAILED): /c/custom_nodes/x", LevelError},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			if got := lv.level(tc.line); got != tc.want {
				t.Errorf("level = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestReadProcStatOfSelf(t *testing.T) {
	t.Parallel()
	st, err := readProcStat(1)
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if st.StartTime > 1<<40 {
		t.Errorf("start time %d", st.StartTime)
	}
	if _, err := readProcStat(1 << 30); err != errNoProcess {
		t.Errorf("missing pid: %v", err)
	}
}
