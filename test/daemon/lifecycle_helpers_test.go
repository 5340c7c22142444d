package daemon_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// writerCmd prints 0, 1, 2, ... one line every 100 ms.
const writerCmd = `i=0; while :; do echo $i; i=$((i+1)); usleep 100000; done`

// waitUntil polls cond every 50 ms until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// inspect returns the container's field by an inspect template.
func inspect(d *daemontest.Daemon, ref, tmpl string) string {
	return d.MustCapsa("inspect", "-f", tmpl, ref)
}

func inspectPid(t *testing.T, d *daemontest.Daemon, ref string) int {
	t.Helper()
	s := inspect(d, ref, "{{.State.Pid}}")
	pid, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("inspect %s: pid %q", ref, s)
	}
	return pid
}

// checkNumbers checks that out holds the lines 0, 1, ..., n-1 for some
// n >= atLeast, none missing or repeated, and returns n.
func checkNumbers(t *testing.T, out string, atLeast int) int {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		if l != strconv.Itoa(i) {
			t.Fatalf("log line %d is %q, want %d (a gap or repeat); lines around it: %q", i, l, i, lines[max(0, i-3):min(len(lines), i+3)])
		}
	}
	if len(lines) < atLeast {
		t.Fatalf("log has %d lines, want at least %d", len(lines), atLeast)
	}
	return len(lines)
}

// fileSize is the size of path (-1: none).
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// apiClient is a Docker API client of d.
func apiClient(t *testing.T, d *daemontest.Daemon) *client.Client {
	t.Helper()
	cl, err := client.New(client.WithHost(d.Host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// procStatus is what /proc/PID tells of a process's resources.
type procStatus struct {
	FDs, Threads int
	RSSKiB       int
}

func readProcStatus(t *testing.T, pid int) procStatus {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	st := procStatus{FDs: len(fds)}
	f, err := os.Open(dir + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.Atoi(fs[0])
		switch k {
		case "Threads":
			st.Threads = n
		case "VmRSS":
			st.RSSKiB = n
		}
	}
	return st
}

// dirEntries lists the names in dir (none if it does not exist).
func dirEntries(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkNothingLeft fails unless d has no container, and nothing of the
// containers ids (or any other) is left on the machine: mounts under its
// roots, cgroups, shims, state and bundle directories, runtime state.
func checkNothingLeft(t *testing.T, d *daemontest.Daemon, ids []string) {
	t.Helper()
	if out := d.MustCapsa("ps", "-aq"); out != "" {
		t.Errorf("ps -a after removing everything: %q", out)
	}
	if ms := daemontest.Mounts(d.ExecRoot, d.DataRoot); len(ms) > 0 {
		t.Errorf("mounts left: %v", ms)
	}
	if pids := d.Shims(); len(pids) > 0 {
		t.Errorf("shims left: %v", pids)
	}
	if ents := dirEntries(filepath.Join(d.ExecRoot, "containers")); len(ents) > 0 {
		t.Errorf("%s/containers not empty: %d entries, e.g. %v", d.ExecRoot, len(ents), ents[:min(3, len(ents))])
	}
	rts, _ := filepath.Glob(filepath.Join(d.ExecRoot, "runtime", "*"))
	for _, rt := range rts {
		if ents := dirEntries(rt); len(ents) > 0 {
			t.Errorf("%s not empty: %d entries, e.g. %v", rt, len(ents), ents[:min(3, len(ents))])
		}
	}
	if ents := dirEntries(filepath.Join(d.DataRoot, "containers")); len(ents) > 0 {
		t.Errorf("%s/containers not empty: %d entries, e.g. %v", d.DataRoot, len(ents), ents[:min(3, len(ents))])
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/capsa")
	if _, err := os.Stat("/sys/fs/cgroup/capsa"); err == nil {
		cgs = append(cgs, "/sys/fs/cgroup/capsa")
	}
	left := 0
	for _, cg := range cgs {
		for _, id := range ids {
			if _, err := os.Stat(filepath.Join(cg, id)); err == nil {
				left++
				if left <= 3 {
					t.Errorf("cgroup left: %s", filepath.Join(cg, id))
				}
			}
		}
	}
	if left > 3 {
		t.Errorf("%d cgroups left in all", left)
	}
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
