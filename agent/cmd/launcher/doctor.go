package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/config"
)

// check is one doctor finding.
type check struct {
	name   string
	status string // ok, warn, fail
	detail string
	fix    string
}

type doctorFailed int

func (d doctorFailed) Error() string { return fmt.Sprintf("%d check(s) failed", int(d)) }
func (d doctorFailed) ExitCode() int { return 1 }

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default ./launcher.toml if present, or $LAUNCHER_CONFIG)")
	timeout := fs.Duration("timeout", defaultToolTimeout, "how long each external tool (git, python3, nvidia-smi) may take before its check fails")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: launcher doctor [--config PATH] [--timeout 10s]\n\nChecks the config, data directory, git, python3, nvidia-smi, the listen address\nand the project port range, and prints how to fix each problem. Exits 1 when a check fails.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return fmt.Errorf("doctor: --timeout must be positive, e.g. 30s")
	}
	checks := doctorChecks(ctx, *configPath, *timeout)
	failed := 0
	for _, c := range checks {
		fmt.Fprintf(stdout, "%-5s %-14s %s\n", strings.ToUpper(c.status), c.name, c.detail)
		if c.fix != "" && c.status != "ok" {
			fmt.Fprintf(stdout, "      %-14s fix: %s\n", "", c.fix)
		}
		if c.status == "fail" {
			failed++
		}
	}
	if failed > 0 {
		return doctorFailed(failed)
	}
	fmt.Fprintln(stdout, "all checks passed")
	return nil
}

// defaultToolTimeout bounds each external tool a check runs; a slow machine raises it with
// --timeout.
const defaultToolTimeout = 10 * time.Second

// doctorChecks runs every check; toolTimeout bounds each external command.
func doctorChecks(ctx context.Context, path string, toolTimeout time.Duration) []check {
	var out []check
	cfg, err := config.Load(path)
	if err != nil {
		out = append(out, check{"config", "fail", err.Error(), "edit the file as the message says; launcher.toml in the repository documents every key"})
		cfg = config.Default()
	} else {
		src := cfg.File
		if src == "" {
			src = "embedded defaults (no launcher.toml found)"
		}
		out = append(out, check{"config", "ok", "loaded " + src, ""})
		out = append(out, check{"data_dir", "ok", cfg.Paths.DataDir + " is writable", ""})
	}
	toolCheck := func(ctx context.Context, name string, args []string, severity, fix string) check {
		return runToolCheck(ctx, toolTimeout, name, args, severity, fix)
	}
	out = append(out, toolCheck(ctx, "git", []string{"--version"}, "fail", "install git (apt-get install git)"))
	py := cfg.ComfyUI.Python
	pyCheck := toolCheck(ctx, py, []string{"--version"}, "fail", "install Python 3.10+ or set comfyui.python to an interpreter path")
	pyCheck.name = "python"
	out = append(out, pyCheck)
	if pyCheck.status == "ok" {
		c := toolCheck(ctx, py, []string{"-c", "import venv, ensurepip"}, "fail", "install the venv module (Debian/Ubuntu: apt-get install python3-venv)")
		c.name = "python venv"
		if c.status == "ok" {
			c.detail = "venv and ensurepip available"
		}
		out = append(out, c)
	}
	smi := toolCheck(ctx, cfg.GPU.NvidiaSMI, []string{"-L"}, "warn", "no NVIDIA GPU tools: projects run with --cpu unless gpu.provider is fake; install the NVIDIA driver for GPU use")
	smi.name = "nvidia-smi"
	out = append(out, smi)
	out = append(out, listenCheck(cfg.Server.Listen))
	out = append(out, portRangeCheck(cfg.Ports.Min, cfg.Ports.Max))
	return out
}

// runToolCheck runs name with args, killed after timeout.
func runToolCheck(ctx context.Context, timeout time.Duration, name string, args []string, severity, fix string) check {
	path, err := exec.LookPath(name)
	if err != nil {
		return check{name, severity, name + " not found on PATH", fix}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, path, args...)
	cmd.WaitDelay = time.Second // a killed tool's children must not hold its output open
	outb, err := cmd.CombinedOutput()
	first := strings.TrimSpace(strings.SplitN(string(outb), "\n", 2)[0])
	if cctx.Err() == context.DeadlineExceeded {
		return check{name, severity, fmt.Sprintf("%s %s did not finish in %s", path, strings.Join(args, " "), timeout),
			"the machine may be overloaded: run again with a longer --timeout, e.g. --timeout 1m"}
	}
	if err != nil {
		return check{name, severity, fmt.Sprintf("%s failed: %v %s", path, err, first), fix}
	}
	return check{name, "ok", first, ""}
}

func listenCheck(addr string) check {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return check{"listen", "warn", addr + " is in use: " + err.Error(), "stop the other process (maybe an agent is already running) or change server.listen"}
	}
	ln.Close()
	return check{"listen", "ok", addr + " is free", ""}
}

func portRangeCheck(min, max int) check {
	if min <= 0 || max < min {
		return check{"ports", "fail", "invalid range", "set ports.min <= ports.max within 1024..65535"}
	}
	busy := []string{}
	for p := min; p <= max; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			busy = append(busy, strconv.Itoa(p))
			continue
		}
		ln.Close()
	}
	total := max - min + 1
	detail := fmt.Sprintf("%d..%d: %d of %d free", min, max, total-len(busy), total)
	switch {
	case len(busy) == total:
		return check{"ports", "fail", detail, "every port in ports.min..ports.max is taken: choose another range"}
	case len(busy) > 0:
		shown := busy
		if len(shown) > 10 {
			shown = append(shown[:10:10], "...")
		}
		return check{"ports", "warn", detail + " (busy: " + strings.Join(shown, ",") + ")", "projects skip busy ports; stop what holds them if you need those ports"}
	}
	return check{"ports", "ok", detail, ""}
}
