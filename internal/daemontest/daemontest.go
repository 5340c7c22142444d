// Package daemontest runs a private capsad for end-to-end tests: its own
// data root, exec root and socket, the binaries from CAPSA_BIN (make's
// bin/), the capsa CLI and Debian's docker CLI pointed at it, kill -9 and
// restart, and a check that nothing of it is left on the machine.
package daemontest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/network"
	"github.com/capsa-dev/capsa/internal/network/nettest"
)

// Daemon is one capsad of a test.
type Daemon struct {
	// Bin holds capsad, capsa, capsa-shim, capsa-runtime, capsa-init.
	Bin string
	// DataRoot and ExecRoot are the daemon's; Socket its API socket and
	// Host the address for clients (unix://Socket).
	DataRoot, ExecRoot, Socket, Host string
	// Log is capsad's output.
	Log string
	// Args are extra capsad flags.
	Args []string
	// NoUnified runs capsad (and so its shims and containers) in a
	// private mount namespace without /sys/fs/cgroup/unified: a pure v1
	// layout, which runtimes that refuse this host's hybrid one (crun
	// 1.8) accept. Its mounts are then out of the test's sight.
	NoUnified bool
	// ResolvConf, if set, is the host's /etc/resolv.conf as capsad sees
	// it (bound over it in a private mount namespace): the upstreams its
	// DNS responders forward to.
	ResolvConf string

	t   testing.TB
	cmd *exec.Cmd
	// bridge and subnet are the default network's.
	bridge string
	subnet netip.Prefix
}

// Bridge is the host interface of the daemon's default network, and
// Subnet its addresses.
func (d *Daemon) Bridge() string       { return d.bridge }
func (d *Daemon) Subnet() netip.Prefix { return d.subnet }

// BinDir is where the binaries under test are: $CAPSA_BIN, else the
// repository's bin/ (found from the test's working directory).
func BinDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CAPSA_BIN"); d != "" {
		return d
	}
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "bin")
		}
	}
	t.Fatal("CAPSA_BIN is not set and no go.mod above the test")
	return ""
}

// Start starts a capsad with private roots; t.Cleanup stops it, removes
// every container it has, and checks that nothing is left.
func Start(t testing.TB, args ...string) *Daemon {
	t.Helper()
	return StartDaemon(t, &Daemon{Args: args})
}

// StartDaemon is Start with d's options (Args, NoUnified, ResolvConf).
func StartDaemon(t testing.TB, d *Daemon) *Daemon {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("capsad needs root")
	}
	bin := BinDir(t)
	for _, b := range []string{"capsad", "capsa", "capsa-shim", "capsa-runtime"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("%s not built (make build): %v", b, err)
		}
	}
	// Shim sockets live under the exec root and must fit in sun_path:
	// a short directory under /run.
	execRoot, err := os.MkdirTemp("/run", "ct")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	d.Bin, d.DataRoot, d.ExecRoot, d.t = bin, filepath.Join(data, "data"), execRoot, t
	d.Socket, d.Log = filepath.Join(execRoot, "capsa.sock"), filepath.Join(data, "capsad.log")
	d.Host = "unix://" + d.Socket
	t.Cleanup(func() { d.cleanup() })
	d.start()
	return d
}

func (d *Daemon) start() {
	d.t.Helper()
	logf, err := os.OpenFile(d.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	// A configuration of its own: the host's /etc/capsa/capsad.json is
	// not the test's, and its default network must not be another
	// capsad's (tests run side by side).
	conf := filepath.Join(filepath.Dir(d.Log), "capsad.json")
	if d.bridge == "" {
		d.bridge, d.subnet = nettest.Defaults(d.t)
	}
	cj, _ := json.Marshal(map[string]any{
		"bridge": d.bridge, "bip": netip.PrefixFrom(d.subnet.Addr().Next(), d.subnet.Bits()).String(),
		"default-address-pools": []network.AddressPool{nettest.Pool},
	})
	if err := os.WriteFile(conf, cj, 0o644); err != nil {
		d.t.Fatal(err)
	}
	args := append([]string{"--config-file", conf, "--data-root", d.DataRoot, "--exec-root", d.ExecRoot, "-H", d.Host, "--debug"}, d.Args...)
	cmd := exec.Command(filepath.Join(d.Bin, "capsad"), args...)
	if d.NoUnified || d.ResolvConf != "" {
		// unshare(1) makes the namespace; the shell changes it (private
		// first: the host keeps its own mounts) and becomes capsad.
		sh := `mount --make-rprivate / && `
		if d.NoUnified {
			// The cgroup2 mount goes; a tmpfs takes its place: crun still
			// writes there, and that must go with the namespace, not pile
			// up in the host's /sys/fs/cgroup.
			sh += `{ ! mountpoint -q /sys/fs/cgroup/unified || { umount /sys/fs/cgroup/unified && mount -t tmpfs -o mode=755,size=1m tmpfs /sys/fs/cgroup/unified; }; } && `
		}
		if d.ResolvConf != "" {
			sh += `mount --bind "$CAPSA_TEST_RESOLV_CONF" /etc/resolv.conf && `
		}
		sh += `exec "$0" "$@"`
		cmd = exec.Command("unshare", append([]string{"-m", "sh", "-c", sh, cmd.Path}, args...)...)
		cmd.Env = append(os.Environ(), "CAPSA_TEST_RESOLV_CONF="+d.ResolvConf)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd = cmd
	exited := make(chan struct{})
	go func() { _, _ = cmd.Process.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if d.ping() {
			return
		}
		select {
		case <-exited:
			d.cmd = nil
			d.t.Fatalf("capsad exited at start; its log:\n%s", d.LogText())
		case <-time.After(20 * time.Millisecond):
		}
	}
	d.t.Fatalf("capsad did not answer within 15 s; its log:\n%s", d.LogText())
}

func (d *Daemon) ping() bool {
	c := http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
		}}}
	resp, err := c.Get("http://capsa/_ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// Pid is capsad's pid.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// LogText is capsad's log so far.
func (d *Daemon) LogText() string {
	b, _ := os.ReadFile(d.Log)
	return string(b)
}

// Kill9 kills capsad with SIGKILL and reaps it; containers keep running.
func (d *Daemon) Kill9() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	_ = d.cmd.Wait()
	d.cmd = nil
}

// Stop stops capsad with SIGTERM (containers keep running).
func (d *Daemon) Stop() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
		d.t.Errorf("capsad did not stop within 20 s of SIGTERM")
	}
	d.cmd = nil
}

// Restart starts capsad again on the same roots (after Kill9 or Stop).
func (d *Daemon) Restart() {
	d.t.Helper()
	if d.cmd != nil {
		d.Stop()
	}
	d.start()
}

// Result is what a command did.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
}

// run runs name with args and env, with stdin, bounded by a minute.
func run(t testing.TB, stdin []byte, env []string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v: still running after a minute", name, args)
	}
	return res
}

// Capsa runs the capsa CLI against the daemon.
func (d *Daemon) Capsa(args ...string) Result {
	d.t.Helper()
	return run(d.t, nil, nil, filepath.Join(d.Bin, "capsa"), append([]string{"-H", d.Host}, args...)...)
}

// CapsaIn runs the capsa CLI with stdin.
func (d *Daemon) CapsaIn(stdin []byte, args ...string) Result {
	d.t.Helper()
	return run(d.t, stdin, nil, filepath.Join(d.Bin, "capsa"), append([]string{"-H", d.Host}, args...)...)
}

// MustCapsa runs the capsa CLI and fails the test unless it exits 0; it
// returns stdout without its trailing newline.
func (d *Daemon) MustCapsa(args ...string) string {
	d.t.Helper()
	r := d.Capsa(args...)
	if r.Code != 0 {
		d.t.Fatalf("capsa %s: %v", strings.Join(args, " "), r)
	}
	return strings.TrimRight(r.Stdout, "\n")
}

// DockerCLI is Debian's docker CLI (docker.io), the compatibility oracle.
const DockerCLI = "/usr/bin/docker"

// Docker runs Debian's docker CLI with DOCKER_HOST pointed at the daemon;
// the test is skipped when it is not installed.
func (d *Daemon) Docker(args ...string) Result {
	d.t.Helper()
	if _, err := os.Stat(DockerCLI); err != nil {
		d.t.Skip("Debian's docker CLI (docker.io) is not installed")
	}
	return run(d.t, nil, []string{"DOCKER_HOST=" + d.Host, "DOCKER_CONFIG=" + d.t.TempDir()}, DockerCLI, args...)
}

// ImportBusybox imports busybox:latest (CMD sh) made from busybox-static.
func (d *Daemon) ImportBusybox() {
	d.t.Helper()
	list, err := exec.Command(busyboxtest.Binary, "--list").Output()
	if err != nil {
		d.t.Fatalf("busybox --list: %v", err)
	}
	var applets []string
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			applets = append(applets, a)
		}
	}
	r := d.CapsaIn(busyboxtest.Tar(d.t, applets...), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest")
	if r.Code != 0 {
		d.t.Fatalf("import busybox: %v", r)
	}
}

// IDs lists the IDs of all the daemon's containers.
func (d *Daemon) IDs() []string {
	d.t.Helper()
	out := d.MustCapsa("ps", "-aq", "--no-trunc")
	if out == "" {
		return nil
	}
	return strings.Fields(out)
}

// Shims lists the pids of the capsa-shim processes serving this daemon's
// containers (their --state-dir is under its exec root).
func (d *Daemon) Shims() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) != "capsa-shim" {
			continue
		}
		for i, a := range args {
			if a == "--state-dir" && i+1 < len(args) && strings.HasPrefix(args[i+1], d.ExecRoot+"/") {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// cleanup removes every container, stops the daemon and checks that no
// shim, mount or cgroup of it is left, then removes its roots.
func (d *Daemon) cleanup() {
	t := d.t
	if d.cmd == nil {
		d.start()
	}
	if ids := d.Capsa("ps", "-aq", "--no-trunc"); ids.Code == 0 {
		for _, id := range strings.Fields(ids.Stdout) {
			if r := d.Capsa("rm", "-f", id); r.Code != 0 && !strings.Contains(r.Stderr, "No such container") {
				t.Errorf("cleanup: rm -f %s: %v", id, r)
			}
		}
	}
	d.Stop()
	if pids := d.Shims(); len(pids) > 0 {
		t.Errorf("cleanup: shims left: %v", pids)
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	for _, m := range Mounts(d.ExecRoot, d.DataRoot) {
		t.Errorf("cleanup: mount left: %s", m)
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	nettest.Cleanup(t, filepath.Join(d.DataRoot, "networks"), filepath.Join(d.ExecRoot, "net"))
	if t.Failed() {
		t.Logf("capsad log:\n%s", tail(d.LogText(), 4000))
	}
	if err := os.RemoveAll(d.ExecRoot); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// Mounts lists the mount points under any of roots.
func Mounts(roots ...string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		for _, r := range roots {
			if f[4] == r || strings.HasPrefix(f[4], r+"/") {
				out = append(out, f[4])
			}
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
