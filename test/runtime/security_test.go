package runtime_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCVE20195736RuntimeBinaryNotWritable: a container process that runs
// the runtime binary (here: its args[0] is /proc/self/exe, which resolves
// to the init's executable) holds it open, and once it exits reopens it
// for writing through /proc/self/fd. The write must fail, and the binary
// must be unchanged. A copy of the runtime is used, so a regression
// destroys the copy, not the build.
func TestCVE20195736RuntimeBinaryNotWritable(t *testing.T) {
	orig, err := os.ReadFile(runtimeBin(t))
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "capsa-runtime")
	if err := os.WriteFile(copyPath, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	r := newRT(t)
	r.bin = copyPath
	sum := sha256.Sum256(orig)

	// The victim: the runtime binary as a container process, blocked
	// reading a fifo (update --resources opens it). No PID namespace, so
	// the attacker survives the victim's exit.
	b := newBundle(t, "/proc/self/exe", "update", "--resources", "/tmp/fifo", "x")
	var ns []specs.LinuxNamespace
	for _, n := range b.spec.Linux.Namespaces {
		if n.Type != specs.PIDNamespace {
			ns = append(ns, n)
		}
	}
	b.spec.Linux.Namespaces = ns
	b.spec.Root.Readonly = false
	if err := os.MkdirAll(filepath.Join(b.dir, "rootfs/tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	// mkfifo is not among the applets: the fifo is made from the host,
	// before the victim starts and opens it.
	if err := mkfifo(filepath.Join(b.dir, "rootfs/tmp/fifo")); err != nil {
		t.Fatal(err)
	}
	b.save(t)
	id := containerID(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.mustRun(t, "run", "--detach", "--pid-file", pidFile, "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	attack := `exec 3</proc/` + string(pid) + `/exe || exit 10
echo go > /tmp/fifo
while [ -e /proc/` + string(pid) + ` ]; do sleep 0.05; done
echo pwned >/proc/self/fd/3 && echo WROTE || echo refused`
	res := r.run(t, "exec", id, "sh", "-c", attack)
	if !strings.Contains(res.stdout, "refused") || strings.Contains(res.stdout, "WROTE") {
		t.Errorf("attack on the runtime binary: %v", res)
	}
	if !strings.Contains(res.stderr, "Read-only file system") {
		t.Errorf("attack not refused as read-only: %v", res)
	}
	after, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(after) != sum {
		t.Fatal("the runtime binary was modified from inside the container")
	}
}

// TestCVE202421626NoHostFdAsCwd: no fd of the runtime reaches the
// container, so process.cwd /proc/self/fd/N cannot lead to the host.
func TestCVE202421626NoHostFdAsCwd(t *testing.T) {
	r := newRT(t)
	for n := 3; n <= 9; n++ {
		b := newBundle(t, "sh", "-c", "ls ../../../; pwd")
		b.spec.Process.Cwd = "/proc/self/fd/" + string(rune('0'+n))
		res := r.runIn(t, b)
		if res.code == 0 {
			t.Errorf("cwd %s: container started with %v", b.spec.Process.Cwd, res)
		}
	}
	// And the container's process has only fds 0, 1, 2 (plus ls's own).
	out := inside(t, nil, "ls /proc/self/fd | tr '\\n' ' '")
	if out != "0 1 2 3 " {
		t.Errorf("open fds in the container: %q, want 0 1 2 (and ls's 3)", out)
	}
	// Also for exec.
	b := newBundle(t, "sleep", "60")
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "-d", "--bundle", b.dir, id)
	defer r.run(t, "delete", "-f", id)
	for n := 3; n <= 9; n++ {
		res := r.run(t, "exec", "--cwd", "/proc/self/fd/"+string(rune('0'+n)), id, "ls", "../../..")
		if res.code == 0 {
			t.Errorf("exec --cwd /proc/self/fd/%d: %v", n, res)
		}
	}
	if out := r.mustRun(t, "exec", id, "ls", "/proc/self/fd"); out != "0\n1\n2\n3\n" {
		t.Errorf("open fds in an exec'd process: %q", out)
	}
}

// TestCVE202130465MountTargetSymlinkStaysInRoot: a mount destination that
// is a symlink out of the rootfs lands inside the rootfs.
func TestCVE202130465MountTargetSymlinkStaysInRoot(t *testing.T) {
	hostDir := t.TempDir()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "file"), []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "cat /evil/file")
	if err := os.Symlink("../../../../../../.."+hostDir, filepath.Join(b.dir, "rootfs/evil")); err != nil {
		t.Fatal(err)
	}
	b.spec.Mounts = append(b.spec.Mounts, specs.Mount{Destination: "/evil", Type: "bind", Source: src, Options: []string{"bind"}})
	res := r.runIn(t, b)
	if res.code != 0 || res.stdout != "bound\n" {
		t.Errorf("bind onto a symlinked destination: %v", res)
	}
	ents, _ := os.ReadDir(hostDir)
	if len(ents) != 0 {
		t.Errorf("the host directory %s got content: %v", hostDir, ents)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(hostDir)) {
		t.Errorf("a mount landed on the host's %s", hostDir)
	}
}

// TestCVE202531133MaskWithSymlinkedDevNull: masking binds /dev/null over
// files; a rootfs whose /dev/null is a symlink to a host file must not make
// that host file visible (or writable) in the container.
func TestCVE202531133MaskWithSymlinkedDevNull(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "cat /proc/kcore; echo; cat /dev/null")
	// No /dev mount: the rootfs's own /dev (with the symlink) is used.
	var ms []specs.Mount
	for _, m := range b.spec.Mounts {
		if m.Destination != "/dev" {
			ms = append(ms, m)
		}
	}
	b.spec.Mounts = ms
	if err := os.Symlink(secret, filepath.Join(b.dir, "rootfs/dev/null")); err != nil {
		t.Fatal(err)
	}
	res := r.runIn(t, b)
	if strings.Contains(res.stdout, "host secret") {
		t.Fatalf("host file reached the container through masking: %v", res)
	}
	if got, _ := os.ReadFile(secret); string(got) != "host secret\n" {
		t.Fatalf("host file changed: %q", got)
	}
}

// TestCVE20169962SetupProcessNotInspectable: while the init waits for
// start it is in the container's PID namespace; a process in the container
// must not be able to read its environment, fds or executable.
func TestCVE20169962SetupProcessNotInspectable(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "true")
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "create", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	res := r.run(t, "exec", id, "sh", "-c",
		`cat /proc/1/environ >/dev/null 2>&1 && echo environ-readable
for f in /proc/1/fd/*; do readlink $f >/dev/null 2>&1 && echo fd-readable; done
readlink /proc/1/exe >/dev/null 2>&1 && echo exe-readable
cat /proc/1/mem >/dev/null 2>&1 && echo mem-readable
echo done`)
	if res.code != 0 || res.stdout != "done\n" {
		t.Errorf("container inspected the waiting init: %v", res)
	}
	time.Sleep(0)
}
