package process

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// endStrays kills ComfyUI processes of spec that nobody tracks: a server spawned by an agent
// that was killed before it could record it. Such a process runs in the project's checkout
// with the project's extra_model_paths.yaml on its command line, which no other program has;
// without that file in the spec nothing is matched. It returns the pids it killed.
func (s *Supervisor) endStrays(spec Spec) []int {
	if spec.ExtraModelPaths == "" {
		return nil
	}
	dir, err := filepath.Abs(spec.Dir)
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	tracked := s.trackedPIDs()
	var killed []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == os.Getpid() || tracked[pid] {
			continue
		}
		if !runsSpec(pid, dir, spec.ExtraModelPaths) {
			continue
		}
		// It was started in its own group (Setpgid), which holds only it and its children.
		if err := signalGroup(pid, syscall.SIGKILL); err == nil {
			killed = append(killed, pid)
		}
	}
	// Wait (briefly) until they are gone, so the port they held is free for the new one.
	for _, pid := range killed {
		for i := 0; i < 100; i++ {
			if st, err := readProcStat(pid); err != nil || st.State == 'Z' {
				break
			}
			<-s.opt.Clock.After(s.opt.PollInterval)
		}
	}
	return killed
}

// runsSpec reports whether pid is a ComfyUI of that checkout and model paths file, and leads
// its own process group.
func runsSpec(pid int, dir, extraModelPaths string) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	cwd, err := os.Readlink(proc + "/cwd")
	if err != nil || filepath.Clean(cwd) != dir {
		return false
	}
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
	found := false
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--extra-model-paths-config" && args[i+1] == extraModelPaths {
			found = true
		}
	}
	if !found {
		return false
	}
	pgid, err := syscall.Getpgid(pid)
	return err == nil && pgid == pid
}

// trackedPIDs are the processes this supervisor runs or adopted.
func (s *Supervisor) trackedPIDs() map[int]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]bool{}
	for _, p := range s.procs {
		if p.inst != nil {
			out[p.inst.rec.PID] = true
		}
	}
	return out
}
