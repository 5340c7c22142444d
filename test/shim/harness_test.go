// Package shim_test runs real containers under capsa-shim, with the real
// capsa-runtime, and checks what a later engine relies on: logs, exit
// records, attach, terminals, surviving the caller, and a clean shutdown.
package shim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/runtime/config"
	"github.com/capsa-dev/capsa/internal/shim"
	"github.com/capsa-dev/capsa/internal/shim/logfile"
)

// shimBin is capsa-shim built for this run (TestMain).
var shimBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "test/shim: skipped, needs root")
		return 0
	}
	// Shims whose caller is killed come back to the test binary, which
	// then reaps them, as it would a shim it started.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if p := os.Getenv("CAPSA_SHIM"); p != "" && os.Getenv("CAPSA_SHIM_RACE") == "" {
		// make test passes the binary it built and installs.
		shimBin = p
		return runSuite(m)
	}
	dir, err := os.MkdirTemp("", "shimbin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shimBin = filepath.Join(dir, "capsa-shim")
	args := []string{"build", "-o", shimBin}
	if os.Getenv("CAPSA_SHIM_RACE") != "" {
		// The shim under the race detector (RSS figures are then meaningless).
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "github.com/capsa-dev/capsa/cmd/capsa-shim")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build capsa-shim: %v\n%s", err, out)
		return 1
	}
	return runSuite(m)
}

// runSuite runs the tests, then fails if they left anything behind.
func runSuite(m *testing.M) int {
	code := m.Run()
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "the suite left these behind:")
		for _, l := range left {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

// leftovers lists this run's container cgroups and processes still there.
func leftovers() []string {
	var left []string
	cgs, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/capsa/shimtest-%d-*", os.Getpid()))
	for _, d := range cgs {
		left = append(left, "cgroup "+d)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), fmt.Sprintf("shimtest-%d-", os.Getpid())) {
			left = append(left, "process "+filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return left
}

func runtimeBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAPSA_RUNTIME"); p != "" {
		return p
	}
	p, err := filepath.Abs("../../bin/capsa-runtime")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no runtime binary at %s: run make build (or set CAPSA_RUNTIME)", p)
	}
	return p
}

var applets = []string{"sh", "echo", "cat", "sleep", "stty", "true", "false", "seq", "head"}

var (
	idMu sync.Mutex
	idN  int
)

// env is one container under one shim.
type env struct {
	id       string
	dir      string // bundle, state, log, runtime root
	bundle   string
	stateDir string
	rtRoot   string
	logPath  string
	rt       string
	spec     *specs.Spec
	client   *shim.Client
	shimPid  int
}

// newEnv makes a bundle whose process runs args, without a terminal, and
// registers a cleanup that removes every trace of it even if the test fails.
func newEnv(t *testing.T, args ...string) *env {
	t.Helper()
	idMu.Lock()
	idN++
	id := fmt.Sprintf("shimtest-%d-%d", os.Getpid(), idN)
	idMu.Unlock()
	// Short: the socket path must fit in sun_path.
	dir, err := os.MkdirTemp("", "shimt")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{id: id, dir: dir, bundle: filepath.Join(dir, "bundle"), stateDir: filepath.Join(dir, "state"),
		rtRoot: filepath.Join(dir, "rt"), logPath: filepath.Join(dir, "ctr-json.log"), rt: runtimeBin(t)}
	t.Cleanup(func() { e.cleanup(t) })
	rfs := busyboxtest.Rootfs(t, filepath.Join(e.bundle, "rootfs"), applets...)
	s := config.DefaultSpec(false)
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Path = rfs
	s.Linux.CgroupsPath = "/capsa/" + id
	e.spec = s
	return e
}

// start writes config.json and starts the shim (as the test's child).
func (e *env) start(t *testing.T, tty, stdin bool) {
	t.Helper()
	e.startWith(t, e.config(tty, stdin))
}

// startWith starts the shim with cfg.
func (e *env) startWith(t *testing.T, cfg shim.Config) {
	t.Helper()
	e.spec.Process.Terminal = cfg.Terminal
	data, err := json.MarshalIndent(e.spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	shimLog, err := os.OpenFile(filepath.Join(e.dir, "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer shimLog.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pid, err := shim.Launch(ctx, shimBin, cfg, shimLog)
	if err != nil {
		t.Fatal(err)
	}
	e.shimPid = pid
	e.client = shim.NewClient(filepath.Join(e.stateDir, shim.SocketName))
}

func (e *env) config(tty, stdin bool) shim.Config {
	return shim.Config{ID: e.id, Bundle: e.bundle, Runtime: e.rt, RuntimeRoot: e.rtRoot, StateDir: e.stateDir,
		Terminal: tty, Stdin: stdin, Log: logfile.Config{Path: e.logPath, MaxFiles: 1}}
}

func (e *env) cleanup(t *testing.T) {
	if t.Failed() {
		if b, err := os.ReadFile(filepath.Join(e.dir, "shim.log")); err == nil {
			t.Logf("shim log:\n%s", b)
		}
	}
	if e.shimPid > 0 && alive(e.shimPid) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if _, err := e.client.Shutdown(ctx, true); err != nil {
			t.Logf("cleanup: shutdown: %v", err)
		}
		cancel()
		if !gone(e.shimPid, 5*time.Second) {
			unix.Kill(e.shimPid, unix.SIGKILL)
			gone(e.shimPid, 5*time.Second)
		}
	}
	_ = exec.Command(e.rt, "--root", e.rtRoot, "delete", "--force", e.id).Run()
	for _, d := range cgroupDirs(e.id) {
		os.Remove(d)
	}
	// After the shutdown: a race report comes at any time until the exit.
	if b, err := os.ReadFile(filepath.Join(e.dir, "shim.log")); err == nil && strings.Contains(string(b), "DATA RACE") {
		t.Errorf("the shim of %s raced:\n%s", e.id, b)
	}
	os.RemoveAll(e.dir)
}

// cgroupDirs are the container's cgroup directories that exist.
func cgroupDirs(id string) []string {
	ds, _ := filepath.Glob("/sys/fs/cgroup/*/capsa/" + id)
	return ds
}

// alive says whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// gone waits until pid has exited and been reaped (by the Launch goroutine
// or, for an orphaned shim, here).
func gone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return true
		}
		if !alive(pid) {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// logEntries reads the json-file log.
func (e *env) logEntries(t *testing.T) []entry {
	t.Helper()
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	var es []entry
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var en entry
		if err := json.Unmarshal([]byte(l), &en); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		es = append(es, en)
	}
	return es
}

type entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// readFile is the content of path, "" if it cannot be read.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
