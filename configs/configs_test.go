// Package configs_test checks the deployment files in configs/ against the real schemas:
// the Kubernetes manifests with the k8s.io/api types and strict decoding, the Nomad job with
// github.com/hashicorp/nomad/api and unknown fields refused, the systemd unit with our own
// parser for the keys the agent relies on and, where the machine has it, systemd-analyze.
package configs_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	nomad "github.com/hashicorp/nomad/api"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifests splits a multi-document YAML file and decodes each document strictly into the
// type of its kind.
func manifests(t *testing.T, path string) (ds []appsv1.DaemonSet, svcs []corev1.Service) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 DaemonSet":
			var d appsv1.DaemonSet
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				t.Fatalf("DaemonSet: %v", err)
			}
			ds = append(ds, d)
		case "v1 Service":
			var s corev1.Service
			if err := yaml.UnmarshalStrict(doc, &s); err != nil {
				t.Fatalf("Service: %v", err)
			}
			svcs = append(svcs, s)
		default:
			t.Fatalf("unexpected manifest %s %s", head.APIVersion, head.Kind)
		}
	}
	return ds, svcs
}

func TestStrictDecodingCatchesTypos(t *testing.T) {
	t.Parallel()
	var d appsv1.DaemonSet
	err := yaml.UnmarshalStrict([]byte("apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      nodeSelectr: {a: b}\n"), &d)
	if err == nil {
		t.Fatal("a misspelt field decoded without error: the manifest test would prove nothing")
	}
}

func TestKubernetesDaemonSet(t *testing.T) {
	t.Parallel()
	ds, svcs := manifests(t, "kubernetes/comfy-launcher.yaml")
	if len(ds) != 1 || len(svcs) != 1 {
		t.Fatalf("want one DaemonSet and one Service, got %d and %d", len(ds), len(svcs))
	}
	d := ds[0]
	pod := d.Spec.Template.Spec
	if len(pod.NodeSelector) == 0 {
		t.Error("no node selector: the agent would run on nodes without GPUs")
	}
	if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != d.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Error("the selector does not match the pod template's labels")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	_, gpuLimit := c.Resources.Limits["nvidia.com/gpu"]
	if (pod.RuntimeClassName == nil || *pod.RuntimeClassName != "nvidia") && !gpuLimit {
		t.Error("neither runtimeClassName nvidia nor an nvidia.com/gpu limit: the agent sees no GPU")
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			t.Errorf("%s probe should GET %s, got %+v", name, path, p)
		}
	}
	probe("liveness", c.LivenessProbe, "/livez")
	probe("readiness", c.ReadinessProbe, "/readyz")
	hostPaths := map[string]string{}
	secretVolumes := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
		if v.Secret != nil {
			secretVolumes[v.Name] = v.Secret.SecretName
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	for _, dir := range []string{"/var/lib/comfy-launcher", "/var/lib/comfy-launcher/models"} {
		if hostPaths[mounts[dir]] == "" {
			t.Errorf("%s is not a hostPath volume: data and models would not survive the pod", dir)
		}
	}
	credDir := ""
	for _, e := range c.Env {
		if e.Name == "CREDENTIALS_DIRECTORY" {
			credDir = e.Value
		}
	}
	if secretVolumes[mounts[credDir]] == "" {
		t.Errorf("the token does not come from a Secret mounted at $CREDENTIALS_DIRECTORY (%q)", credDir)
	}
	svc := svcs[0]
	if svc.Spec.Selector["app.kubernetes.io/name"] != d.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Error("the Service does not select the agent pods")
	}
	if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
		t.Error("the Service does not target the agent's port")
	}
}

func TestNomadSystemJob(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("nomad/comfy-launcher.nomad.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct{ Job *nomad.Job }
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("job spec does not match nomad/api: %v", err)
	}
	j := spec.Job
	if j == nil || j.Type == nil || *j.Type != "system" {
		t.Fatal("not a system job: it would not run one agent per node")
	}
	if len(j.Constraints) == 0 {
		t.Error("no constraint: the agent would run on nodes without GPUs")
	}
	if len(j.TaskGroups) != 1 || len(j.TaskGroups[0].Tasks) != 1 {
		t.Fatal("want one group with one task")
	}
	g, task := j.TaskGroups[0], j.TaskGroups[0].Tasks[0]
	checks := map[string]bool{}
	for _, s := range g.Services {
		for _, c := range s.Checks {
			checks[c.Path] = c.Type == "http"
		}
	}
	if !checks["/livez"] || !checks["/readyz"] {
		t.Errorf("want http checks on /livez and /readyz, got %v", checks)
	}
	if task.Config["runtime"] != "nvidia" {
		t.Error("the task does not use the nvidia runtime")
	}
	vols, _ := task.Config["volumes"].([]any)
	joined := ""
	for _, v := range vols {
		joined += v.(string) + " "
	}
	if !strings.Contains(joined, ":/var/lib/comfy-launcher ") || !strings.Contains(joined, ":/var/lib/comfy-launcher/models") {
		t.Errorf("data and models are not host volumes: %v", vols)
	}
	secret := false
	for _, tmpl := range task.Templates {
		if tmpl.DestPath != nil && *tmpl.DestPath == "secrets/api-token" && tmpl.EmbeddedTmpl != nil && strings.Contains(*tmpl.EmbeddedTmpl, "nomadVar") {
			secret = true
		}
	}
	if !secret || task.Env["CREDENTIALS_DIRECTORY"] != "/secrets" {
		t.Error("the token is not rendered from a Nomad variable into $CREDENTIALS_DIRECTORY/api-token")
	}
}

// unit parses a systemd unit file: section -> key -> values (keys may repeat).
func unit(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("line %d is not KEY=VALUE inside a section: %q", i+1, line)
			}
			out[section][strings.TrimSpace(k)] = append(out[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("systemd/comfy-launcher.service")
	if err != nil {
		t.Fatal(err)
	}
	u := unit(t, string(raw))
	svc := u["Service"]
	for key, want := range map[string]string{
		"Type":         "notify",     // READY=1 once the agent serves
		"KillMode":     "process",    // ComfyUI outlives an agent restart and is re-adopted
		"Restart":      "on-failure", // restart on failure
		"NotifyAccess": "main",
	} {
		if got := svc[key]; len(got) != 1 || got[0] != want {
			t.Errorf("Service.%s = %v, want %s", key, got, want)
		}
	}
	if u := svc["User"]; len(u) != 1 || u[0] == "root" || u[0] == "" {
		t.Errorf("User = %v, want a dedicated user", u)
	}
	if lc := svc["LoadCredential"]; len(lc) != 1 || !strings.HasPrefix(lc[0], "api-token:") {
		t.Errorf("LoadCredential = %v, want api-token:<file> (the agent reads $CREDENTIALS_DIRECTORY/api-token)", lc)
	}
	if e := svc["ExecStart"]; len(e) != 1 || !strings.Contains(e[0], "launcher serve") {
		t.Errorf("ExecStart = %v", e)
	}
	for _, key := range []string{"NoNewPrivileges", "ProtectSystem", "PrivateTmp", "StateDirectory"} {
		if len(svc[key]) == 0 {
			t.Errorf("hardening key %s is missing", key)
		}
	}
	// These break ComfyUI, PyTorch, CUDA or pip: they must not creep in.
	for _, key := range []string{"MemoryDenyWriteExecute", "PrivateDevices", "SystemCallFilter", "ProtectProc", "DynamicUser"} {
		if len(svc[key]) != 0 {
			t.Errorf("%s breaks ComfyUI (JIT, /dev/nvidia*, CUDA ioctls or venv ownership)", key)
		}
	}
	if w := u["Install"]["WantedBy"]; len(w) != 1 || w[0] != "multi-user.target" {
		t.Errorf("Install.WantedBy = %v", w)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: skipping 'systemd-analyze verify' (the keys above were checked)")
		return
	}
	// verify needs ExecStart to exist: point it at an executable of this machine.
	dir := t.TempDir()
	text := strings.ReplaceAll(string(raw), "/usr/local/bin/launcher", "/bin/sh")
	p := filepath.Join(dir, "comfy-launcher.service")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	// verify exits 0 even on keys it ignores; any line about our file is a mistake.
	if err != nil || strings.Contains(string(out), "comfy-launcher.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
