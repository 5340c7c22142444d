package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain runs the suite, then checks that it left nothing behind: no
// container cgroups, no mounts under the temp directory, no named network
// namespaces and no container init processes that the suite made.
func TestMain(m *testing.M) {
	before := snapshot()
	code := m.Run()
	// Processes killed by the last deletes may take a moment to be gone
	// (reaped by whoever inherited them).
	left := leftovers(before, snapshot())
	for i := 0; i < 30 && len(left) > 0; i++ {
		time.Sleep(100 * time.Millisecond)
		left = leftovers(before, snapshot())
	}
	if len(left) > 0 {
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
	// Only this suite's: other test packages run beside it.
	dirs := suiteDirs()
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) <= 4 {
				continue
			}
			for _, d := range dirs {
				if f[4] == d || strings.HasPrefix(f[4], d+"/") {
					s["mount "+f[4]] = true
				}
			}
		}
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			s["netns "+e.Name()] = true
		}
	}
	// Container init processes of this suite: in a cgroup named with the
	// marker, or still the runtime's init (its environment) in one.
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "/capsa/") && strings.Contains(string(b), marker) {
			// A zombie holds nothing but its pid: a deleted created
			// container's init belongs to pid 1 once its runtime has
			// exited, and waits there to be reaped.
			if st, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat")); err == nil {
				if i := strings.LastIndexByte(string(st), ')'); i > 0 && strings.HasPrefix(string(st[i+1:]), " Z") {
					continue
				}
			}
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
