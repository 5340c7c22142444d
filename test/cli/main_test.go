// Package cli_test runs the built capsa binary end to end against a real
// daemon: a dockerd the suite starts for itself (the oracle), or the
// daemon at CAPSA_TEST_HOST when that is set (capsad, later).
package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
)

// testImage is the busybox image the suite imports.
const testImage = "capsa-cli-test/busybox:latest"

// testLabel marks every container the suite makes, for the final sweep.
const testLabel = "capsa.test=cli"

var (
	capsaBin string
	host     string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "capsa-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	capsaBin = os.Getenv("CAPSA_CLI")
	if capsaBin == "" {
		capsaBin = filepath.Join(tmp, "capsa")
		out, err := exec.Command("go", "build", "-o", capsaBin, "github.com/capsa-dev/capsa/cmd/capsa").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build capsa: %v\n%s", err, out)
			return 1
		}
	}

	host = os.Getenv("CAPSA_TEST_HOST")
	if host == "" {
		start := startCapsad
		if os.Getenv("CAPSA_TEST_ORACLE") == "dockerd" {
			start = startDaemon
		}
		h, stop, err := start(filepath.Join(tmp, "daemon"))
		if errors.Is(err, errNoDaemon) {
			fmt.Println("skip: no daemon to test against")
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stop()
		host = h
	}
	code := m.Run()
	sweep()
	return code
}

var errNoDaemon = errors.New("no daemon to test against")

// startCapsad starts the capsad under test (from $CAPSA_BIN, make's bin/)
// with its own data root, exec root and socket under dir, waits for it,
// and returns its address and the function that stops it and removes
// what it made. CAPSA_TEST_ORACLE=dockerd runs the suite against dockerd
// instead (startDaemon), to check the tests themselves.
func startCapsad(dir string) (string, func(), error) {
	bin := os.Getenv("CAPSA_BIN")
	if bin == "" {
		bin = filepath.Dir(capsaBin)
	}
	capsad := filepath.Join(bin, "capsad")
	if _, err := os.Stat(capsad); err != nil {
		return "", nil, errNoDaemon
	}
	// Shim sockets live under the exec root and must fit in sun_path: a
	// short directory under /run.
	short, err := os.MkdirTemp("/run", "cc")
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	conf := filepath.Join(dir, "capsad.json")
	if err := os.WriteFile(conf, []byte("{}\n"), 0o644); err != nil {
		return "", nil, err
	}
	sock, root := filepath.Join(short, "capsa.sock"), filepath.Join(dir, "root")
	cmd := exec.Command(capsad, "--config-file", conf, "--data-root", root, "--exec-root", short, "-H", "unix://"+sock)
	return startProcess(cmd, filepath.Join(dir, "capsad.log"), sock, []string{root, short}, []string{root, short})
}

// startDaemon starts a dockerd with its own data root, exec root and
// socket under dir, waits for it, and returns its address and the function
// that stops it and removes everything it made.
func startDaemon(dir string) (string, func(), error) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return "", nil, errNoDaemon
	}
	// Socket paths are short (108 bytes): keep the exec root and socket in
	// a short directory.
	short, err := os.MkdirTemp("/tmp", "ccli")
	if err != nil {
		return "", nil, err
	}
	sock, root, execRoot := filepath.Join(short, "d.sock"), filepath.Join(dir, "root"), filepath.Join(short, "x")
	cmd := exec.Command(bin, "--data-root", root, "--exec-root", execRoot,
		"--pidfile", filepath.Join(short, "pid"), "-H", "unix://"+sock,
		"--iptables=false", "--ip6tables=false", "--bridge=none",
		"--default-ulimit", "nofile=1024:1024")
	return startProcess(cmd, filepath.Join(short, "daemon.log"), sock, []string{root, execRoot}, []string{root, short})
}

// startProcess starts the daemon cmd with its output in logPath, waits
// until it answers on sock, and returns its address and the function that
// stops it (SIGTERM, SIGKILL after 20 s), unmounts what is left under
// mounts and removes dirs. This is the one place that knows how the
// suite's daemon lives.
func startProcess(cmd *exec.Cmd, logPath, sock string, mounts, dirs []string) (string, func(), error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		for _, m := range mounts {
			unmountUnder(m)
		}
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	}
	addr := "unix://" + sock
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if exec.Command(capsaBin, "-H", addr, "version", "--format", "{{.Server.Version}}").Run() == nil {
			return addr, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("%s did not answer on %s in 30s", filepath.Base(cmd.Path), sock)
}

// unmountUnder lazily unmounts what is still mounted under dir, deepest
// first.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mounts = append(mounts, f[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
}

// sweep removes the containers and the image the suite made, for a daemon
// that outlives it.
func sweep() {
	out, _ := exec.Command(capsaBin, "-H", host, "ps", "-aq", "--filter", "label="+testLabel).Output()
	for _, id := range strings.Fields(string(out)) {
		_ = exec.Command(capsaBin, "-H", host, "rm", "-f", id).Run()
	}
	_ = exec.Command(capsaBin, "-H", host, "rmi", "-f", testImage).Run()
}

var imageOnce sync.Once

// ensureImage imports the busybox image once.
func ensureImage(t *testing.T) {
	t.Helper()
	imageOnce.Do(func() {
		tarball := busyboxtest.Tar(t, "sh", "echo", "cat", "ls", "sleep", "touch", "mkdir", "env", "pwd", "id", "true", "false", "wc")
		r := runCapsa(t, bytes.NewReader(tarball), "import", "-", testImage)
		if r.code != 0 {
			t.Fatalf("import: exit %d: %s", r.code, r.stderr)
		}
	})
}

type result struct {
	stdout, stderr string
	code           int
}

// runCapsa runs capsa -H host args..., with stdin from in (none if nil).
func runCapsa(t *testing.T, in io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, capsaBin, append([]string{"-H", host}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if in != nil {
		cmd.Stdin = in
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("capsa %q: %v", args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// capsa runs capsa and fails the test unless it exits 0; it returns
// stdout.
func capsa(t *testing.T, args ...string) string {
	t.Helper()
	r := runCapsa(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("capsa %q: exit %d: %s", args, r.code, r.stderr)
	}
	return r.stdout
}

// name returns a container name for this test, removed (with its
// container) at its end.
func name(t *testing.T, suffix string) string {
	t.Helper()
	n := fmt.Sprintf("capsa-cli-%s-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), suffix, time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = runCapsa(t, nil, "rm", "-f", n) })
	return n
}
