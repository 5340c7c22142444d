package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain runs the suite, then checks that it left nothing behind: no
// container cgroups, no mounts under the temp directory, no named network
// namespaces and no container init processes that the suite made.
func TestMain(m *testing.M) {
	before := snapshot()
	code := m.Run()
	if left := leftovers(before, snapshot()); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "the suite left these behind:")
		for _, l := range left {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// hostState is what the suite could leak, as sets of names.
type hostState map[string]bool

func snapshot() hostState {
	s := hostState{}
	// Container ids carry the test binary's pid: containerID.
	marker := fmt.Sprintf("-%d-", os.Getpid())
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/capsa/*")
	for _, d := range cgs {
		if strings.Contains(filepath.Base(d), marker) {
			s["cgroup "+d] = true
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		tmp := os.TempDir()
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], tmp+"/") {
				s["mount "+f[4]] = true
			}
		}
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			s["netns "+e.Name()] = true
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "_CAPSA_INIT=") {
			s["process "+filepath.Base(filepath.Dir(p))] = true
		}
	}
	return s
}

func leftovers(before, after hostState) []string {
	var out []string
	for k := range after {
		if !before[k] {
			out = append(out, k)
		}
	}
	return out
}
