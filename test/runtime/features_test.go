package runtime_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestUserNamespace: uid/gid mappings as the container sees them, root
// inside mapped to an unprivileged host uid.
func TestUserNamespace(t *testing.T) {
	out := inside(t, func(s *specs.Spec) {
		// The container's root is host uid 100000: it must be able to
		// reach the rootfs through the test's 0700 temp directories.
		for d := filepath.Dir(s.Root.Path); strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		// A user namespace cannot mount cgroup v1 hierarchies.
		var ms []specs.Mount
		for _, m := range s.Mounts {
			if m.Type != "cgroup" {
				ms = append(ms, m)
			}
		}
		s.Mounts = ms
	}, "id -u; cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '; grep CapEff /proc/self/status")
	want := "0\n 0 100000 65536\n 0 100000 65536\nCapEff:\t0000000020000420\n"
	if out != want {
		t.Errorf("in a user namespace: got %q, want %q", out, want)
	}
}

// TestTimeNamespace: boottime and monotonic offsets shift the
// container's clocks, not the host's.
func TestTimeNamespace(t *testing.T) {
	out := inside(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
			"boottime":  {Secs: 86400 * 365},
			"monotonic": {Secs: 86400},
		}
	}, "cut -d. -f1 /proc/uptime")
	var host unix.Sysinfo_t
	if err := unix.Sysinfo(&host); err != nil {
		t.Fatal(err)
	}
	up, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("uptime inside: %q", out)
	}
	if d := up - host.Uptime; d < 86400*365-60 || d > 86400*365+60 {
		t.Errorf("uptime inside %d, host %d: want a year more", up, host.Uptime)
	}
}

// TestCgroupPlacement: the container's processes are in capsa's own
// cgroup in every v1 hierarchy and in the v2 one, and see that cgroup
// as their root through the cgroup namespace.
func TestCgroupPlacement(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "cat /proc/self/cgroup; sleep 60")
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	pid := int(r.state(t, id)["pid"].(float64))
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := "/capsa/" + id
	for _, line := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[2] != want {
			t.Errorf("init's cgroup line %q: want every hierarchy at %s", line, want)
		}
	}
	procs, err := os.ReadFile("/sys/fs/cgroup/memory" + want + "/cgroup.procs")
	if err != nil || !strings.Contains(string(procs), strconv.Itoa(pid)) {
		t.Errorf("memory cgroup %s holds %q (%v), want pid %d", want, procs, err, pid)
	}
	out := r.mustRun(t, "exec", id, "cat", "/proc/self/cgroup")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(line, ":/") {
			t.Errorf("inside the cgroup namespace: %q, want the root", line)
		}
	}
}

// TestDeviceCgroup: with the default deny-all rule, a device node the
// container makes itself (here /dev/loop-control's numbers) cannot be
// opened: the device cgroup answers EPERM before any driver is asked.
// The standard nodes, a node of theirs made anew, and linux.devices
// entries can be opened.
func TestDeviceCgroup(t *testing.T) {
	mode := os.FileMode(0o640)
	uid := uint32(7)
	out := inside(t, func(s *specs.Spec) {
		c := append(s.Process.Capabilities.Bounding, "CAP_MKNOD")
		s.Process.Capabilities.Bounding, s.Process.Capabilities.Effective, s.Process.Capabilities.Permitted = c, c, c
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid}}
	}, `mknod /dev/loopctl c 10 237 && mknod /dev/zero2 c 1 5 && echo made
head -c0 /dev/loopctl 2>&1 | grep -o 'Operation not permitted' || echo loopctl-opened
head -c1 /dev/zero2 | wc -c
stat -c '%t:%T %a %u' /dev/fuse
head -c0 /dev/fuse 2>&1 | grep -o 'Operation not permitted' || echo fuse-opened`)
	want := "made\nOperation not permitted\n1\na:e5 640 7\nfuse-opened\n"
	if out != want {
		t.Errorf("device cgroup: got %q, want %q", out, want)
	}
}

// TestPersonality: LINUX32 makes uname report a 32-bit machine.
func TestPersonality(t *testing.T) {
	out := inside(t, func(s *specs.Spec) {
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	}, "uname -m")
	if out != "i686\n" {
		t.Errorf("uname -m with LINUX32: %q", out)
	}
}

// TestUpdateAndStats: update changes a running container's limits in
// its cgroup, and events --stats reports them.
func TestUpdateAndStats(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sleep", "60")
	lim := int64(256 << 20)
	pids := int64(100)
	b.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &lim}
	b.spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	read := func(p string) string {
		d, _ := os.ReadFile(p)
		return strings.TrimSpace(string(d))
	}
	if got := read("/sys/fs/cgroup/memory/capsa/" + id + "/memory.limit_in_bytes"); got != strconv.FormatInt(lim, 10) {
		t.Errorf("memory.limit_in_bytes at create: %q", got)
	}
	r.mustRun(t, "update", "--memory", "67108864", "--pids-limit", "42", id)
	if got := read("/sys/fs/cgroup/memory/capsa/" + id + "/memory.limit_in_bytes"); got != "67108864" {
		t.Errorf("memory.limit_in_bytes after update: %q", got)
	}
	if got := read("/sys/fs/cgroup/pids/capsa/" + id + "/pids.max"); got != "42" {
		t.Errorf("pids.max after update: %q", got)
	}
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Memory struct {
				Usage struct {
					Limit uint64 `json:"limit"`
				} `json:"usage"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current"`
				Limit   uint64 `json:"limit"`
			} `json:"pids"`
		} `json:"data"`
	}
	out := r.mustRun(t, "events", "--stats", id)
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("events --stats: %q: %v", out, err)
	}
	if ev.Type != "stats" || ev.ID != id || ev.Data.Memory.Usage.Limit != 67108864 || ev.Data.Pids.Limit != 42 || ev.Data.Pids.Current != 1 {
		t.Errorf("events --stats: %s", out)
	}
}

// TestTerminal: a terminal container gets a pty as its stdio and
// /dev/console, in the foreground and through --console-socket.
func TestTerminal(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "tty; test -t 0 && test -t 1 && echo both-ttys; stat -c %t /dev/console")
	b.spec.Process.Terminal = true
	res := r.runIn(t, b)
	out := strings.ReplaceAll(res.stdout, "\r", "")
	if res.code != 0 || out != "/dev/pts/0\nboth-ttys\n88\n" {
		t.Errorf("foreground terminal: %v", res)
	}

	// create with --console-socket: the pty master arrives on the socket.
	sockPath := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	master := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			master <- nil
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			master <- nil
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		master <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	b2 := newBundle(t, "sh", "-c", "echo hello-from-$(tty)")
	b2.spec.Process.Terminal = true
	b2.save(t)
	id := containerID(t)
	r.mustRun(t, "create", "--console-socket", sockPath, "--bundle", b2.dir, id)
	defer r.run(t, "delete", "--force", id)
	var m *os.File
	select {
	case m = <-master:
	case <-time.After(5 * time.Second):
	}
	if m == nil {
		t.Fatal("no pty master received on the console socket")
	}
	defer m.Close()
	r.mustRun(t, "start", id)
	buf := make([]byte, 256)
	_ = m.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := m.Read(buf)
	if got := strings.TrimSpace(string(buf[:n])); got != "hello-from-/dev/pts/0" {
		t.Errorf("through the console socket's master: %q", got)
	}
}

// seccomp_notif and seccomp_notif_resp, and their ioctls, as
// linux/seccomp.h defines them.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

const (
	ioctlNotifRecv = 0xc0502100
	ioctlNotifSend = 0xc0182101
)

// TestSeccompNotify: with SCMP_ACT_NOTIFY, the runtime sends the listener
// fd and the container's state to the agent at listenerPath; the agent's
// answers are what the container's syscalls return.
func TestSeccompNotify(t *testing.T) {
	sockPath := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type got struct {
		state  specs.ContainerProcessState
		served int
		err    error
	}
	agent := make(chan got, 1)
	go func() {
		var g got
		defer func() { agent <- g }()
		c, err := l.AcceptUnix()
		if err != nil {
			g.err = err
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 1<<16), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			g.err = err
			return
		}
		if g.err = json.Unmarshal(buf[:n], &g.state); g.err != nil {
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			g.err = fmt.Errorf("no fd with the state")
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		fd := fds[0]
		defer unix.Close(fd)
		// Answer every notification with E2BIG until the container is gone.
		for {
			var req seccompNotif
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifRecv, uintptr(unsafe.Pointer(&req))); e != 0 {
				return
			}
			resp := seccompNotifResp{ID: req.ID, Error: -int32(unix.E2BIG)}
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifSend, uintptr(unsafe.Pointer(&resp))); e == 0 {
				g.served++
			}
		}
	}()
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "mkdir /tmp/x; echo rc=$?")
	b.spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     sockPath,
		ListenerMetadata: "meta",
		Architectures:    []specs.Arch{specs.ArchX86_64},
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	}
	res := r.runIn(t, b)
	if res.code != 0 || !strings.Contains(res.stdout, "rc=1") || !strings.Contains(res.stderr, "Argument list too long") {
		t.Errorf("mkdir under a notifying agent: %v", res)
	}
	select {
	case g := <-agent:
		if g.err != nil {
			t.Fatalf("agent: %v", g.err)
		}
		if g.state.Metadata != "meta" || len(g.state.Fds) != 1 || g.state.Fds[0] != specs.SeccompFdName || g.state.State.ID == "" || g.served < 1 {
			t.Errorf("agent got state %+v and served %d notifications", g.state, g.served)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent never finished")
	}
}

// TestRootfsPropagation: linux.rootfsPropagation is the propagation of
// the container's root: an unbindable root cannot be bound elsewhere, a
// private one can, and with a shared one a mount made under / shows
// through a bind of / made earlier (the copies are peers).
func TestRootfsPropagation(t *testing.T) {
	script := `mkdir /tmp/m; mount --rbind / /tmp/m 2>&1 | grep -o 'Invalid argument' || echo bound
mount -t tmpfs peer /root; grep ' /tmp/m/root ' /proc/self/mountinfo | wc -l`
	for _, tc := range []struct{ prop, want string }{
		{"unbindable", "Invalid argument\n0\n"},
		{"private", "bound\n0\n"},
		{"shared", "bound\n1\n"},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			out := inside(t, func(s *specs.Spec) {
				s.Linux.RootfsPropagation = tc.prop
				c := append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
				s.Process.Capabilities.Bounding, s.Process.Capabilities.Effective, s.Process.Capabilities.Permitted = c, c, c
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
			}, script)
			if out != tc.want {
				t.Errorf("rootfsPropagation %s: got %q, want %q", tc.prop, out, tc.want)
			}
		})
	}
}

// TestHookTimeout: a hook that overruns its timeout fails the create, in
// about the timeout, and leaves nothing behind.
func TestHookTimeout(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "true")
	one := 1
	b.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}}
	b.save(t)
	id := containerID(t)
	start := time.Now()
	res := r.run(t, "create", "--bundle", b.dir, id)
	if res.code == 0 || !strings.Contains(res.stderr, "createRuntime hook 0") || !strings.Contains(res.stderr, "timed out after 1s") {
		t.Errorf("create with a hook over its timeout: %v", res)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("create took %v with a 1s hook timeout", d)
	}
	if res := r.run(t, "state", id); res.code == 0 {
		t.Errorf("state after a failed create: %v", res)
	}
	if d := cgroupDirs(id); len(d) > 0 {
		t.Errorf("cgroups left behind: %v", d)
	}
}

// TestNoPivot: --no-pivot enters the root with MS_MOVE and chroot; the
// container sees its own root and none of the host's mounts.
func TestNoPivot(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "ls /; grep -c . /proc/self/mountinfo")
	b.save(t)
	res := r.run(t, "run", "--no-pivot", "--bundle", b.dir, containerID(t))
	if res.code != 0 || !strings.Contains(res.stdout, "bin\n") || strings.Contains(res.stdout, "work\n") {
		t.Fatalf("run --no-pivot: %v", res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if n, err := strconv.Atoi(lines[len(lines)-1]); err != nil || n > 40 {
		t.Errorf("mounts visible with --no-pivot: %q, want only the container's", lines[len(lines)-1])
	}
}

// TestExecOptions: exec with a process.json, --env, --tty, and --detach
// with --pid-file.
func TestExecOptions(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sleep", "60")
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)

	proc := specs.Process{Args: []string{"sh", "-c", "echo $GREETING from $(pwd) as $(id -u)"}, Cwd: "/etc",
		Env: []string{"PATH=/bin", "GREETING=hello"}, User: specs.User{UID: 1000, GID: 1000}}
	pj := filepath.Join(t.TempDir(), "process.json")
	data, _ := json.Marshal(proc)
	if err := os.WriteFile(pj, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := r.mustRun(t, "exec", "--process", pj, id); out != "hello from /etc as 1000\n" {
		t.Errorf("exec --process: %q", out)
	}
	if out := r.mustRun(t, "exec", "--env", "X=42", id, "sh", "-c", "echo $X"); out != "42\n" {
		t.Errorf("exec --env: %q", out)
	}
	if out := r.mustRun(t, "exec", "--tty", id, "tty"); strings.TrimSpace(strings.ReplaceAll(out, "\r", "")) != "/dev/pts/0" {
		t.Errorf("exec --tty: %q", out)
	}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.mustRun(t, "exec", "--detach", "--pid-file", pidFile, id, "sleep", "30")
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pl []int
	_ = json.Unmarshal([]byte(r.mustRun(t, "ps", "--format", "json", id)), &pl)
	found := false
	for _, p := range pl {
		found = found || strconv.Itoa(p) == string(pid)
	}
	if !found {
		t.Errorf("exec --detach pid %s not among the container's processes %v", pid, pl)
	}
}

// TestNoMountNamespace: without a mount namespace in the config the
// container shares the caller's (here a copy made for the test by
// unshare, so that a regression cannot reach the host's), is entered with
// chroot, and delete takes down every mount init made there.
func TestNoMountNamespace(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "readlink /proc/self/ns/mnt; ls /")
	var ns []specs.LinuxNamespace
	for _, n := range b.spec.Linux.Namespaces {
		if n.Type != specs.MountNamespace && n.Type != specs.CgroupNamespace {
			ns = append(ns, n)
		}
	}
	b.spec.Linux.Namespaces = ns
	b.save(t)
	rfs := filepath.Join(b.dir, "rootfs")
	script := fmt.Sprintf(`readlink /proc/self/ns/mnt
%s --root %s run --bundle %s %s || exit 1
echo "left: $(grep -c ' %s' /proc/self/mountinfo)"`, r.bin, r.root, b.dir, containerID(t), rfs)
	out, err := exec.Command("unshare", "-m", "--propagation", "unchanged", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("run without a mount namespace: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 4 || lines[0] != lines[1] {
		t.Fatalf("caller's and container's mount namespaces: %q", out)
	}
	if !strings.Contains(string(out), "bin\n") || strings.Contains(string(out), "work\n") {
		t.Errorf("the container's root is not its rootfs: %s", out)
	}
	if last := lines[len(lines)-1]; last != "left: 0" {
		t.Errorf("mounts under the rootfs after the run: %s", last)
	}
}
