package gpu

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// fakeSMI puts scripts/fake-nvidia-smi first on PATH as "nvidia-smi" and sets its env.
func fakeSMI(t *testing.T, env map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is needed to run scripts/fake-nvidia-smi")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "scripts", "fake-nvidia-smi"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("fake nvidia-smi: %v", err)
	}
	dir := t.TempDir()
	if err := os.Symlink(script, filepath.Join(dir, "nvidia-smi")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, k := range []string{"GPUS", "APPS", "SPEC", "PROCS", "NO_DEVICES", "FAIL", "EXIT", "SLEEP", "LOG", "CONFIG"} {
		t.Setenv("FAKE_NVIDIA_SMI_"+k, "")
		os.Unsetenv("FAKE_NVIDIA_SMI_" + k)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(b) {
		t.Errorf("%s differs from the parse result:\n got: %s\nwant: %s", name, b, want)
	}
}

func TestParseRecordedGPUs(t *testing.T) {
	tests := []struct {
		file    string
		wantN   int
		wantErr string
		check   func(t *testing.T, g []GPU)
	}{
		{file: "gpus_two.txt", wantN: 2, check: func(t *testing.T, g []GPU) {
			if g[1].UUID != "GPU-a1b2c3d4-e5f6-4789-8abc-def012345678" || g[1].MemoryTotalMB != 16376 || g[1].MemoryFreeMB != 15738 {
				t.Errorf("second GPU = %+v", g[1])
			}
			if g[0].MIGMode != "" || g[0].MIGEnabled() {
				t.Errorf("[N/A] MIG mode on a GeForce should be empty, got %q", g[0].MIGMode)
			}
		}},
		{file: "gpus_mig.txt", wantN: 2, check: func(t *testing.T, g []GPU) {
			if !g[0].MIGEnabled() || g[1].MIGEnabled() {
				t.Errorf("MIG modes = %q, %q; want Enabled, Disabled", g[0].MIGMode, g[1].MIGMode)
			}
			if g[0].UtilizationPercent != Unknown {
				t.Errorf("utilisation under MIG = %d, want Unknown", g[0].UtilizationPercent)
			}
		}},
		{file: "gpus_not_supported.txt", wantN: 2, check: func(t *testing.T, g []GPU) {
			if g[0].UtilizationPercent != Unknown || g[0].TemperatureC != Unknown || g[0].MIGMode != "" {
				t.Errorf("[Not Supported] fields = %+v", g[0])
			}
			if g[1].MemoryTotalMB != Unknown || g[1].MemoryFreeMB != Unknown || g[1].TemperatureC != 29 {
				t.Errorf("[N/A] memory = %+v", g[1])
			}
		}},
		{file: "gpus_no_devices.txt", wantN: 0},
		{file: "gpus_driver_mismatch.txt", wantErr: "fields"},
		{file: "gpus_truncated.txt", wantErr: "3 fields, want 9"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".txt"), func(t *testing.T) {
			gpus, err := parseGPUs(readTestdata(t, tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(gpus) != tt.wantN {
				t.Fatalf("got %d GPUs, want %d", len(gpus), tt.wantN)
			}
			if tt.check != nil {
				tt.check(t, gpus)
			}
			if gpus == nil {
				gpus = []GPU{}
			}
			checkGolden(t, strings.TrimSuffix(tt.file, ".txt")+".golden.json", gpus)
		})
	}
}

func TestParseRecordedApps(t *testing.T) {
	tests := []struct {
		file string
		want []ComputeApp
	}{
		{file: "apps_two.txt", want: []ComputeApp{
			{"GPU-5f3b8c1e-9a2d-4e6f-b7c8-1d2e3f4a5b6c", 48211, 9874},
			{"GPU-5f3b8c1e-9a2d-4e6f-b7c8-1d2e3f4a5b6c", 48377, 412},
			{"GPU-a1b2c3d4-e5f6-4789-8abc-def012345678", 50012, 6020},
		}},
		{file: "apps_empty.txt"},
		{file: "apps_mig.txt", want: []ComputeApp{
			{"GPU-0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b", 3121, Unknown},
			{"GPU-0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b", 3188, Unknown},
		}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".txt"), func(t *testing.T) {
			apps, err := parseApps(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(apps) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", apps, tt.want)
			}
			for i := range apps {
				if apps[i] != tt.want[i] {
					t.Errorf("app %d = %+v, want %+v", i, apps[i], tt.want[i])
				}
			}
		})
	}
	if _, err := parseApps([]byte("GPU-x, notapid, 3\n")); err == nil {
		t.Error("a non-numeric pid parsed without error")
	}
}

func TestParseStatPGID(t *testing.T) {
	tests := []struct {
		name, stat string
		want       int
		wantErr    bool
	}{
		{"plain", "4242 (python3) S 1 4240 4240 0 -1 4194560 1 0", 4240, false},
		{"comm with spaces and parens", "77 (a) b (c) R 5 70 70 0", 70, false},
		{"truncated", "77 (python3) S 1", 0, true},
		{"garbage", "nothing here", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatPGID(tt.stat)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatPGID = %d, %v; want %d, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	// The real /proc answer for ourselves must be our process group.
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		got, err := procPGID(os.Getpid())
		if err != nil || got != selfPGID(t) {
			t.Errorf("procPGID(self) = %d, %v; want %d", got, err, selfPGID(t))
		}
	}
}

// TestSMIProvider runs the provider against the fake nvidia-smi replaying recorded outputs,
// including the failure modes that must become warnings, not crashes.
func TestSMIProvider(t *testing.T) {
	mismatch := strings.TrimSpace(string(readTestdata(t, "gpus_driver_mismatch.txt")))
	tests := []struct {
		name     string
		env      map[string]string
		optional bool
		noBinary bool
		timeout  time.Duration
		wantGPUs int
		wantApps int
		wantProv string
		wantErr  string
		wantExit int
		wantWarn string
	}{
		{name: "recorded two GPUs", env: map[string]string{"FAKE_NVIDIA_SMI_GPUS": "testdata/gpus_two.txt", "FAKE_NVIDIA_SMI_APPS": "testdata/apps_two.txt"},
			wantGPUs: 2, wantApps: 3, wantProv: ProviderNvidiaSMI},
		{name: "no devices", env: map[string]string{"FAKE_NVIDIA_SMI_NO_DEVICES": "1"}, wantProv: ProviderNvidiaSMI, wantWarn: "No devices were found"},
		{name: "driver mismatch", env: map[string]string{"FAKE_NVIDIA_SMI_FAIL": mismatch}, wantErr: "Driver/library version mismatch", wantExit: 18},
		{name: "driver not loaded", env: map[string]string{"FAKE_NVIDIA_SMI_FAIL": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "FAKE_NVIDIA_SMI_EXIT": "9"},
			wantErr: "couldn't communicate", wantExit: 9},
		{name: "garbage output", env: map[string]string{"FAKE_NVIDIA_SMI_GPUS": "testdata/gpus_truncated.txt"}, wantErr: "unexpected output", wantExit: 0},
		{name: "hung driver", env: map[string]string{"FAKE_NVIDIA_SMI_SLEEP": "30"}, timeout: 300 * time.Millisecond, wantErr: "no answer within", wantExit: -1},
		{name: "missing binary, nvidia-smi provider", noBinary: true, wantErr: "nvidia-smi not found"},
		{name: "missing binary, auto provider", noBinary: true, optional: true, wantProv: ProviderNone, wantWarn: "not found on PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeSMI(t, tt.env)
			bin := "nvidia-smi"
			if tt.noBinary {
				bin = "nvidia-smi-that-does-not-exist"
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			p := &smiProvider{runner: smiRunner{bin: bin, timeout: timeout}, optional: tt.optional}
			inv, err := p.Query(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				var qe *QueryError
				if tt.noBinary {
					if !errors.Is(err, ErrNoNvidiaSMI) {
						t.Errorf("err = %v, want ErrNoNvidiaSMI", err)
					}
				} else if !errors.As(err, &qe) || qe.ExitCode != tt.wantExit {
					t.Errorf("err = %#v, want *QueryError with exit %d", err, tt.wantExit)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inv.Provider != tt.wantProv || len(inv.GPUs) != tt.wantGPUs || len(inv.Apps) != tt.wantApps {
				t.Errorf("inventory = %s, %d GPUs, %d apps; want %s, %d, %d", inv.Provider, len(inv.GPUs), len(inv.Apps), tt.wantProv, tt.wantGPUs, tt.wantApps)
			}
			if w := strings.Join(inv.Warnings, "; "); (tt.wantWarn == "") != (w == "") || !strings.Contains(w, tt.wantWarn) {
				t.Errorf("warnings = %q, want %q", w, tt.wantWarn)
			}
		})
	}
}
