package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// inside runs script in a one-shot container made from b (after mutate)
// and returns its stdout, failing the test if it does not exit 0.
func inside(t *testing.T, mutate func(s *specs.Spec), script string) string {
	t.Helper()
	r := newRT(t)
	b := newBundle(t, "sh", "-c", script)
	if mutate != nil {
		mutate(b.spec)
	}
	res := r.runIn(t, b)
	if res.code != 0 {
		t.Fatalf("container script %q: %v", script, res)
	}
	return res.stdout
}

func TestNamespacesAndHostname(t *testing.T) {
	out := inside(t, func(s *specs.Spec) { s.Hostname = "box"; s.Domainname = "example.org" },
		`echo $$; hostname; cat /proc/sys/kernel/domainname; ls /sys/class/net | tr '\n' ' '; echo`)
	if got, want := out, "1\nbox\nexample.org\nlo \n"; got != want {
		t.Errorf("pid/hostname/net: got %q, want %q", got, want)
	}
	host := func(ns string) string {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	out = inside(t, nil, `for n in mnt uts ipc pid net cgroup; do readlink /proc/self/ns/$n; done`)
	for i, ns := range []string{"mnt", "uts", "ipc", "pid", "net", "cgroup"} {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 6 {
			t.Fatalf("namespaces: %q", out)
		}
		if lines[i] == host(ns) {
			t.Errorf("%s namespace is the host's (%s)", ns, lines[i])
		}
	}
}

func TestJoinNetworkNamespace(t *testing.T) {
	// The test's own network namespace, joined by path (the C stage joins
	// it), while the other namespaces are new: pid 1 in a new PID namespace.
	self := fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
	out := inside(t, func(s *specs.Spec) {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = self
			}
		}
	}, "readlink /proc/self/ns/net; echo $$")
	host, err := os.Readlink(self)
	if err != nil {
		t.Fatal(err)
	}
	if out != host+"\n1\n" {
		t.Errorf("joined netns: got %q, want %q and pid 1", out, host)
	}
}

func TestCapabilities(t *testing.T) {
	out := inside(t, nil, "grep ^Cap /proc/self/status")
	// AUDIT_WRITE(29) KILL(5) NET_BIND_SERVICE(10)
	want := "CapInh:\t0000000000000000\nCapPrm:\t0000000020000420\nCapEff:\t0000000020000420\nCapBnd:\t0000000020000420\nCapAmb:\t0000000000000000\n"
	if out != want {
		t.Errorf("default capabilities:\n%s\nwant:\n%s", out, want)
	}
	out = inside(t, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5, 7}}
		c := []string{"CAP_NET_RAW"}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: c, Permitted: c, Effective: c, Inheritable: c, Ambient: c}
	}, "id; grep ^Cap /proc/self/status")
	want = "uid=1000(user) gid=1000(user) groups=5,7\nCapInh:\t0000000000002000\nCapPrm:\t0000000000002000\nCapEff:\t0000000000002000\nCapBnd:\t0000000000002000\nCapAmb:\t0000000000002000\n"
	if out != want {
		t.Errorf("user 1000 with ambient NET_RAW:\n%s\nwant:\n%s", out, want)
	}
}

func TestNoNewPrivileges(t *testing.T) {
	out := inside(t, nil, "grep NoNewPrivs /proc/self/status")
	if out != "NoNewPrivs:\t1\n" {
		t.Errorf("default: %q", out)
	}
	out = inside(t, func(s *specs.Spec) { s.Process.NoNewPrivileges = false }, "grep NoNewPrivs /proc/self/status")
	if out != "NoNewPrivs:\t0\n" {
		t.Errorf("noNewPrivileges false: %q", out)
	}
}

func TestMountsMaskedReadonly(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "data"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := inside(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/data", Type: "bind", Source: host, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "noexec"}})
	}, `cat /data/data
touch /data/x 2>/dev/null && echo data-writable || echo data-ro
touch / 2>/dev/null && echo root-writable || echo root-ro
wc -c < /proc/timer_list; ls /proc/acpi | wc -l
echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo procsys-writable || echo procsys-ro
grep -E ' /scratch ' /proc/self/mountinfo | grep -o noexec
stat -c '%t:%T %F' /dev/null; readlink /dev/ptmx; readlink /dev/fd; ls /dev/shm /dev/mqueue >/dev/null && echo devs`)
	want := "from host\ndata-ro\nroot-ro\n0\n0\nprocsys-ro\nnoexec\n1:3 character special file\npts/ptmx\n/proc/self/fd\ndevs\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestSysctlRlimitsUmaskOOM(t *testing.T) {
	adj := 500
	umask := uint32(0o027)
	out := inside(t, func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1000}, {Type: "RLIMIT_NPROC", Soft: 100, Hard: 200}}
		s.Process.OOMScoreAdj = &adj
		s.Process.User.Umask = &umask
	}, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/oom_score_adj; umask")
	if want := "1\n123456789\n512\n1000\n100\n500\n0027\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestSeccompErrno(t *testing.T) {
	ret := uint(42)
	out := inside(t, func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &ret},
			},
		}
	}, "mkdir /tmp/x 2>&1; echo rc=$?; ls -d /tmp")
	// errno 42 is ENOMSG: "No message of desired type".
	if !strings.Contains(out, "No message of desired type") || !strings.Contains(out, "rc=1") || !strings.HasSuffix(out, "/tmp\n") {
		t.Errorf("seccomp errno 42 on mkdir: %q", out)
	}
}

func TestHooks(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "true")
	log := filepath.Join(t.TempDir(), "hooks.log")
	hook := func(name string) specs.Hook {
		// Each hook appends its name, the state's status and whether it
		// sees the container's root (createContainer/startContainer run
		// in the container's mount namespace).
		script := fmt.Sprintf(`read s; st=$(echo "$s" | grep -o '"status":"[a-z]*"'); echo "%s $st" >> %s`, name, log)
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}}
	}
	fail := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-broke >&2; exit 3"}}
	b.spec.Hooks = &specs.Hooks{
		//lint:ignore SA1019 prestart is deprecated, and callers still send it.
		Prestart:        []specs.Hook{hook("prestart")},
		CreateRuntime:   []specs.Hook{hook("createRuntime")},
		CreateContainer: []specs.Hook{hook("createContainer")},
		StartContainer:  []specs.Hook{hook("startContainer")},
		// A failing poststart or poststop hook is a warning: the
		// hooks after it still run, and so does the container.
		Poststart: []specs.Hook{fail, hook("poststart")},
		Poststop:  []specs.Hook{fail, hook("poststop")},
	}
	// The hooks' /bin/sh and the log live on the host: createContainer and
	// startContainer run in the container's mount namespace, so give them
	// the host's /bin and the log's directory there.
	b.spec.Mounts = append(b.spec.Mounts,
		specs.Mount{Destination: filepath.Dir(log), Type: "bind", Source: filepath.Dir(log), Options: []string{"bind"}})
	res := r.runIn(t, b)
	if res.code != 0 {
		t.Fatalf("run with hooks: %v", res)
	}
	if n := strings.Count(res.stderr, "hook-broke"); n != 2 || !strings.Contains(res.stderr, "warn") {
		t.Errorf("failing poststart/poststop hooks: want two warnings naming the failure, got stderr %q", res.stderr)
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := `prestart "status":"created"
createRuntime "status":"creating"
createContainer "status":"creating"
startContainer "status":"created"
poststart "status":"running"
poststop "status":"stopped"
`
	if string(got) != want {
		t.Errorf("hooks ran:\n%s\nwant:\n%s", got, want)
	}
}
