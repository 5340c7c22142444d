package rootfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// The real tests re-exec the test binary into a child in new mount, PID,
// UTS and IPC namespaces (envChild holds the scenario as JSON); the child
// runs Prepare, Enter and Finalize on a busybox rootfs, looks around inside
// and prints a report as JSON on stdout.
const envChild = "_CAPSA_ROOTFS_TEST_CHILD"

func TestMain(m *testing.M) {
	if s := os.Getenv(envChild); s != "" {
		childMain(s)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type scenario struct {
	Config config.Config
	Opt    Options
}

type report struct {
	Stage     string // "prepare", "enter", "finalize" on error, "" when all went well
	Err       string
	Facts     map[string]string
	Mountinfo string
}

func childMain(s string) {
	runtime.LockOSThread()
	var sc scenario
	rep := report{Facts: map[string]string{}}
	defer func() { json.NewEncoder(os.Stdout).Encode(rep) }()
	if err := json.Unmarshal([]byte(s), &sc); err != nil {
		rep.Stage, rep.Err = "decode", err.Error()
		return
	}
	sys := Real()
	for _, st := range []struct {
		name string
		fn   func() error
	}{
		{"prepare", func() error { return Prepare(sys, &sc.Config, sc.Opt) }},
		{"enter", func() error { return Enter(sys, &sc.Config, sc.Opt) }},
		{"finalize", func() error { return Finalize(sys, &sc.Config) }},
	} {
		if err := st.fn(); err != nil {
			rep.Stage, rep.Err = st.name, err.Error()
			return
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	rep.Mountinfo = string(mi)
	f := rep.Facts
	f["cwd"], _ = os.Getwd()
	f["keys"] = readSome("/proc/keys")
	f["timer_list"] = readSome("/proc/timer_list")
	f["firmware"] = listDir("/sys/firmware")
	f["proc/sys"] = openW("/proc/sys/kernel/domainname")
	f["data"] = create("/data/new")
	f["root"] = create("/newfile")
	f["dev/shm"] = create("/dev/shm/new")
	f["etc/marker"] = readSome("/etc/marker")
	f["cgroup"] = listDir("/sys/fs/cgroup")
	var st unix.Stat_t
	if err := unix.Lstat("/dev/null", &st); err == nil {
		f["dev/null"] = fmt.Sprintf("%#o %d:%d", st.Mode&unix.S_IFMT, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	} else {
		f["dev/null"] = err.Error()
	}
	for _, p := range []string{"/idm/own1000", "/idm/own0"} {
		if err := unix.Stat(p, &st); err == nil {
			f[p] = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		}
	}
	f["dev/ptmx"], _ = os.Readlink("/dev/ptmx")
	f["dev/fd"], _ = os.Readlink("/dev/fd")
	if out, err := exec.Command("/bin/sh", "-c", "echo hello from busybox").CombinedOutput(); err == nil {
		f["busybox"] = strings.TrimSpace(string(out))
	} else {
		f["busybox"] = err.Error()
	}
}

func readSome(p string) string {
	fd, err := os.Open(p)
	if err != nil {
		return "error: " + err.Error()
	}
	defer fd.Close()
	b := make([]byte, 64)
	n, err := fd.Read(b)
	if n == 0 && errors.Is(err, io.EOF) {
		return "empty"
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b[:n])
}

func listDir(p string) string {
	es, err := os.ReadDir(p)
	if err != nil {
		return "error: " + err.Error()
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func openW(p string) string {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err.Error()
	}
	unix.Close(fd)
	return "writable"
}

func create(p string) string {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err.Error()
	}
	unix.Close(fd)
	return "writable"
}

// busyboxRootfs makes a minimal rootfs with Debian's busybox-static.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	r := busyboxtest.Rootfs(t, filepath.Join(t.TempDir(), "rootfs"), "sh", "cat", "echo", "ls", "mount")
	if err := os.Mkdir(filepath.Join(r, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// runChild runs the scenario in a child in new namespaces and checks that
// the host's mount table did not change in any place the test touches.
func runChild(t *testing.T, sc scenario, attr func(*syscall.SysProcAttr), touched ...string) report {
	t.Helper()
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	before := hostMounts(t)
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+string(b))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	if attr != nil {
		attr(cmd.SysProcAttr)
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstderr: %s\nstdout: %s", err, stderr.String(), stdout.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("child report: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	after := hostMounts(t)
	touched = append(touched, sc.Config.Rootfs, "/", "/etc", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/sys/fs/cgroup")
	for _, d := range [][2]map[string]bool{{after, before}, {before, after}} {
		for line := range d[0] {
			if d[1][line] {
				continue
			}
			mp := strings.Fields(line)[4]
			bad := false
			for _, p := range touched {
				if mp == p || (p != "/" && within(mp, p)) {
					bad = true
				}
			}
			if bad {
				t.Errorf("the host's mount table changed: %s", line)
			} else {
				t.Logf("host mount table changed outside this test's paths (another process?): %s", line)
			}
		}
	}
	return rep
}

func hostMounts(t *testing.T) map[string]bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		out[l] = true
	}
	return out
}

// ownMountNS is the namespace list of the configs here: the test child
// runs in a mount namespace of its own, as a container does.
var ownMountNS = []config.Namespace{{Type: config.NSMount}}

func runcLikeMounts() []config.Mount {
	const nsnd = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	return []config.Mount{
		{Source: "proc", Destination: "/proc", Type: "proc", Flags: nsnd},
		{Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		{Source: "devpts", Destination: "/dev/pts", Type: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{Source: "shm", Destination: "/dev/shm", Type: "tmpfs", Flags: nsnd, Data: "mode=1777,size=65536k"},
		{Source: "mqueue", Destination: "/dev/mqueue", Type: "mqueue", Flags: nsnd},
		{Source: "sysfs", Destination: "/sys", Type: "sysfs", Flags: nsnd | unix.MS_RDONLY},
		{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Flags: nsnd | unix.MS_RDONLY},
	}
}

func TestRealContainerRoot(t *testing.T) {
	needRoot(t)
	for _, noPivot := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoPivot=%v", noPivot), func(t *testing.T) {
			r := busyboxRootfs(t)
			data := t.TempDir()
			marker := t.TempDir()
			if err := os.WriteFile(filepath.Join(marker, "marker"), []byte("in the rootfs"), 0o644); err != nil {
				t.Fatal(err)
			}
			// CVE-2021-30465: a destination that climbs out of the rootfs.
			if err := os.Symlink("/../../etc", filepath.Join(r, "evil")); err != nil {
				t.Fatal(err)
			}
			c := config.Config{
				Rootfs:       r,
				Namespaces:   ownMountNS,
				RootReadonly: true,
				Mounts: append(runcLikeMounts(),
					config.Mount{Source: data, Destination: "/data", Type: "bind", Flags: unix.MS_BIND | unix.MS_RDONLY},
					config.Mount{Source: marker, Destination: "/evil", Type: "bind", Flags: unix.MS_BIND},
				),
				// This kernel has no /proc/kcore nor /proc/sysrq-trigger:
				// they stand for the paths that are skipped.
				MaskedPaths:   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/does-not-exist"},
				ReadonlyPaths: []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/bus"},
			}
			rep := runChild(t, scenario{Config: c, Opt: Options{NoPivot: noPivot}}, nil, data, marker)
			if rep.Err != "" {
				t.Fatalf("%s: %s", rep.Stage, rep.Err)
			}
			want := map[string]string{
				"cwd":        "/",
				"keys":       "empty",
				"timer_list": "empty",
				"firmware":   "",
				"proc/sys":   "read-only file system",
				"data":       "read-only file system",
				"root":       "read-only file system",
				"dev/shm":    "writable",
				"etc/marker": "in the rootfs",
				"dev/null":   "020000 1:3",
				"dev/ptmx":   "pts/ptmx",
				"dev/fd":     "/proc/self/fd",
				"busybox":    "hello from busybox",
				"cgroup":     "blkio cpu cpuacct cpuset devices freezer memory pids systemd unified",
			}
			for k, w := range want {
				if g := rep.Facts[k]; g != w {
					t.Errorf("%s: got %q, want %q", k, g, w)
				}
			}
			ms := parseMountInfo([]byte(rep.Mountinfo))
			found := map[string]string{}
			for _, m := range ms {
				found[m.Mountpoint] = m.FSType
			}
			for mp, typ := range map[string]string{"/": "ext4", "/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/sys": "sysfs", "/etc": "ext4", "/data": "ext4", "/proc/keys": "tmpfs", "/sys/firmware": "tmpfs"} {
				if found[mp] != typ {
					t.Errorf("container mount %s: type %q, want %q", mp, found[mp], typ)
				}
			}
			if _, err := os.Stat("/etc/marker"); err == nil {
				t.Errorf("the bind meant for /evil landed on the host's /etc")
			}
			if t.Failed() {
				t.Logf("container mountinfo:\n%s", rep.Mountinfo)
			}
		})
	}
}

// TestRealMaskRefusesSymlinkedDevNull pins CVE-2025-31133: a rootfs whose
// /dev/null is a symlink to a host file makes masking fail, and the file is
// neither exposed nor changed.
func TestRealMaskRefusesSymlinkedDevNull(t *testing.T) {
	needRoot(t)
	r := busyboxRootfs(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(r, "dev/null")); err != nil {
		t.Fatal(err)
	}
	var ms []config.Mount
	for _, m := range runcLikeMounts() {
		if m.Destination == "/proc" { // no tmpfs on /dev: the rootfs's own is used
			ms = append(ms, m)
		}
	}
	c := config.Config{Rootfs: r, Namespaces: ownMountNS, Mounts: ms, MaskedPaths: []string{"/proc/keys"}}
	rep := runChild(t, scenario{Config: c}, nil, secret)
	if rep.Stage != "finalize" || !strings.Contains(rep.Err, "/dev/null in the container is a symlink") {
		t.Fatalf("got stage %q error %q, want masking refused in finalize", rep.Stage, rep.Err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "host secret" {
		t.Errorf("host file changed: %q", b)
	}
}

// TestRealBindErrors checks that a failing mount names the mount.
func TestRealBindErrors(t *testing.T) {
	needRoot(t)
	r := busyboxRootfs(t)
	c := config.Config{Rootfs: r, Namespaces: ownMountNS, Mounts: append(runcLikeMounts()[:2],
		config.Mount{Source: "/nonexistent-capsa-source", Destination: "/x", Type: "bind", Flags: unix.MS_BIND})}
	rep := runChild(t, scenario{Config: c}, nil)
	if want := `mounts[2]: bind source "/nonexistent-capsa-source" does not exist`; rep.Stage != "prepare" || rep.Err != want {
		t.Errorf("got %s: %q, want prepare: %q", rep.Stage, rep.Err, want)
	}
}

// TestRealUserNS runs the setup in a new user namespace (mapped 0-65535 to
// the host's 0-65535) that has the host's network namespace: device nodes
// must be binds of the host's, sysfs falls back to a bind of /sys, and
// remounts keep the flags the kernel locked.
func TestRealUserNS(t *testing.T) {
	needRoot(t)
	r := busyboxRootfs(t)
	data := t.TempDir()
	c := config.Config{
		Rootfs:        r,
		RootReadonly:  true,
		Namespaces:    []config.Namespace{{Type: config.NSUser}, {Type: config.NSMount}, {Type: config.NSPID}},
		Mounts:        append(runcLikeMounts(), config.Mount{Source: data, Destination: "/data", Type: "bind", Flags: unix.MS_BIND | unix.MS_RDONLY}),
		MaskedPaths:   []string{"/proc/keys", "/sys/firmware"},
		ReadonlyPaths: []string{"/proc/sys"},
	}
	rep := runChild(t, scenario{Config: c}, func(a *syscall.SysProcAttr) {
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
	}, data)
	if rep.Err != "" {
		t.Fatalf("%s: %s", rep.Stage, rep.Err)
	}
	for k, w := range map[string]string{
		"keys":     "empty",
		"firmware": "",
		"proc/sys": "read-only file system",
		"data":     "read-only file system",
		"root":     "read-only file system",
		"dev/null": "020000 1:3",
		"dev/ptmx": "pts/ptmx",
		"busybox":  "hello from busybox",
	} {
		if g := rep.Facts[k]; g != w {
			t.Errorf("%s: got %q, want %q", k, g, w)
		}
	}
	found := map[string]mountInfo{}
	for _, m := range parseMountInfo([]byte(rep.Mountinfo)) {
		found[m.Mountpoint] = m
	}
	if m := found["/dev/null"]; m.FSType != "devtmpfs" || m.Root != "/null" {
		t.Errorf("/dev/null: %+v, want a bind of the host's devtmpfs node", m)
	}
	if m := found["/sys"]; m.FSType != "sysfs" {
		t.Errorf("/sys: %+v, want the host's sysfs bound", m)
	}
	if t.Failed() {
		t.Logf("container mountinfo:\n%s", rep.Mountinfo)
	}
}

// TestRealIDMappedBind binds a directory with an id mapping (container
// 0-999 = host 1000-1999), as for a container whose root is host uid 1000:
// what uid 0 owns on disk shows as 1000 through the mount, and uid 1000
// (container id 1000, outside the mapping) as the overflow id.
func TestRealIDMappedBind(t *testing.T) {
	needRoot(t)
	r := busyboxRootfs(t)
	src := t.TempDir()
	for name, id := range map[string]int{"own1000": 1000, "own0": 0} {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, id, id); err != nil {
			t.Fatal(err)
		}
	}
	m := []config.IDMap{{ContainerID: 0, HostID: 1000, Size: 1000}}
	c := config.Config{Rootfs: r, Namespaces: ownMountNS, Mounts: append(runcLikeMounts()[:2],
		config.Mount{Source: src, Destination: "/idm", Type: "bind", Flags: unix.MS_BIND | unix.MS_RDONLY,
			IDMapped: true, UIDMappings: m, GIDMappings: m})}
	rep := runChild(t, scenario{Config: c}, nil, src)
	if rep.Err != "" {
		t.Fatalf("%s: %s", rep.Stage, rep.Err)
	}
	for k, w := range map[string]string{"/idm/own0": "1000:1000", "/idm/own1000": "65534:65534"} {
		if g := rep.Facts[k]; g != w {
			t.Errorf("%s: got %q, want %q", k, g, w)
		}
	}
	if !strings.Contains(rep.Mountinfo, " /idm ro,") || !strings.Contains(rep.Mountinfo, "idmapped") {
		t.Errorf("no read-only idmapped mount on /idm:\n%s", rep.Mountinfo)
	}
}
