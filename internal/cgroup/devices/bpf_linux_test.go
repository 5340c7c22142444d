//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || loong64 || mips64le)

package devices

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary an opener: it reads "path mode" lines on
// stdin, opens each path (mode r, w or rw), and answers "ok" or the error.
const childEnv = "CAPSA_DEVICES_TEST_OPENER"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		opener(os.Stdin, os.Stdout)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func opener(in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		path, mode, _ := strings.Cut(sc.Text(), " ")
		flag := map[string]int{"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[mode]
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			fmt.Fprintf(out, "%v\n", errors.Unwrap(err))
			continue
		}
		f.Close()
		fmt.Fprintln(out, "ok")
	}
}

// v2Root returns where the cgroup v2 hierarchy is mounted: beside the v1
// ones on a hybrid host, or at /sys/fs/cgroup on a unified one.
func v2Root(t *testing.T) string {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	t.Skip("no cgroup v2 hierarchy mounted")
	return ""
}

// testCgroup creates a v2 cgroup of the test's own, removed at the end.
// Device programs need no controller enabled: they work on any v2 cgroup,
// even on a hybrid host whose v2 hierarchy has none.
func testCgroup(t *testing.T, name string) string {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	dir := filepath.Join(v2Root(t), fmt.Sprintf("capsa-devtest-%d-%s", os.Getpid(), name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Detach(dir); err != nil {
			t.Error(err)
		}
		if err := os.Remove(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

// startOpener starts the test binary as an opener in the cgroup dir and
// returns a function that asks it to open path. The opener stays in the
// test's own v1 devices cgroup, so only the BPF program restricts it.
func startOpener(t *testing.T, dir string) func(path, mode string) string {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered after testCgroup's cleanup, so it runs first: the
	// cgroup must be empty before it can be removed.
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0); err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0::/" + filepath.Base(dir) + "\n"; !strings.Contains(string(own), want) {
		t.Fatalf("opener's /proc/%d/cgroup = %q, want it to hold %q", pid, own, want)
	}
	replies := bufio.NewReader(stdout)
	return func(path, mode string) string {
		if _, err := fmt.Fprintf(stdin, "%s %s\n", path, mode); err != nil {
			t.Fatal(err)
		}
		line, err := replies.ReadString('\n')
		if err != nil {
			t.Fatalf("opener: %v", err)
		}
		return strings.TrimSuffix(line, "\n")
	}
}

type openCheck struct {
	path, mode, want string
}

const eperm = "operation not permitted"

func checkOpens(t *testing.T, stage string, open func(path, mode string) string, checks []openCheck) {
	t.Helper()
	for _, ck := range checks {
		if got := open(ck.path, ck.mode); got != ck.want {
			t.Errorf("%s: open %s (%s) = %q, want %q", stage, ck.path, ck.mode, got, ck.want)
		}
	}
}

func mustAttached(t *testing.T, dir string, n int) []uint32 {
	t.Helper()
	ids, err := attached(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Fatalf("programs attached to %s = %v, want %d", dir, ids, n)
	}
	return ids
}

// TestAttachOnHost runs the filter in the kernel: attach, replace, detach,
// with a process in the cgroup trying to open device nodes.
func TestAttachOnHost(t *testing.T) {
	dir := testCgroup(t, "attach")
	open := startOpener(t, dir)
	checkOpens(t, "before attach", open, []openCheck{
		{"/dev/full", "rw", "ok"}, // nothing else in the way
	})

	p, err := Compile([]specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "rwm"), allow("c", 1, 5, "rwm")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Attach(dir); err != nil {
		t.Fatal(err)
	}
	first := mustAttached(t, dir, 1)
	checkOpens(t, "null and zero", open, []openCheck{
		{"/dev/null", "rw", "ok"},
		{"/dev/zero", "r", "ok"},
		{"/dev/full", "r", eperm},
		{"/dev/full", "w", eperm},
		{"/dev/urandom", "r", eperm},
	})

	// Replace: full becomes readable but not writable.
	p, err = Compile([]specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "rwm"), allow("c", 1, 7, "r")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Attach(dir); err != nil {
		t.Fatal(err)
	}
	if second := mustAttached(t, dir, 1); second[0] == first[0] {
		t.Errorf("program %d still attached after replacing it", first[0])
	}
	checkOpens(t, "null and full read", open, []openCheck{
		{"/dev/null", "rw", "ok"},
		{"/dev/full", "r", "ok"},
		{"/dev/full", "rw", eperm},
		{"/dev/zero", "r", eperm},
	})

	if err := Detach(dir); err != nil {
		t.Fatal(err)
	}
	mustAttached(t, dir, 0)
	checkOpens(t, "after detach", open, []openCheck{
		{"/dev/full", "rw", "ok"},
		{"/dev/zero", "r", "ok"},
	})
	// Detaching nothing is no error.
	if err := Detach(dir); err != nil {
		t.Error(err)
	}
}

// TestAttachReplacesNonMulti covers a program some other tool attached
// without BPF_F_ALLOW_MULTI: the kernel refuses a multi program beside it,
// so Attach replaces it in its own mode.
func TestAttachReplacesNonMulti(t *testing.T) {
	dir := testCgroup(t, "nonmulti")
	open := startOpener(t, dir)

	denyFull, err := Compile([]specs.LinuxDeviceCgroup{{Allow: true}, deny("c", 1, 7, "rwm")})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := load(denyFull.insns)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cg)
	attr := progAttachAttr{targetFd: uint32(cg), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		t.Fatal(err)
	}
	checkOpens(t, "non-multi program", open, []openCheck{{"/dev/full", "r", eperm}, {"/dev/zero", "r", "ok"}})

	denyZero, err := Compile([]specs.LinuxDeviceCgroup{{Allow: true}, deny("c", 1, 5, "rwm")})
	if err != nil {
		t.Fatal(err)
	}
	if err := denyZero.Attach(dir); err != nil {
		t.Fatal(err)
	}
	mustAttached(t, dir, 1)
	checkOpens(t, "replaced", open, []openCheck{{"/dev/full", "r", "ok"}, {"/dev/zero", "r", eperm}})
}

func TestAttachErrors(t *testing.T) {
	dir := testCgroup(t, "errors")
	tests := []struct {
		name string
		p    *Program
		dir  string
		want []string // substrings of the error
	}{
		{
			name: "verifier rejects",
			p:    &Program{insns: []Insn{exit()}}, // r0 never set
			dir:  dir,
			want: []string{`attach device filter to "` + dir + `": bpf prog load rejected by the verifier: `, "R0 !read_ok", ": permission denied"},
		},
		{
			name: "no such cgroup",
			p:    &Program{insns: []Insn{mov64Imm(r0, 1), exit()}},
			dir:  dir + "-missing",
			want: []string{`attach device filter to "` + dir + `-missing": open: no such file or directory`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Attach(tt.dir)
			if err == nil {
				t.Fatal("Attach = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Attach error = %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Attach error %q is more than one line", err)
			}
		})
	}
	mustAttached(t, dir, 0)
	if err := Detach(dir + "-missing"); err == nil || !strings.Contains(err.Error(), `detach device filters from "`+dir+`-missing"`) {
		t.Errorf("Detach of a missing cgroup = %v, want an error naming it", err)
	}
}

func TestLogTail(t *testing.T) {
	tests := []struct {
		log  string
		want string
	}{
		{"\x00garbage", ""},
		{"", ""},
		{"0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok\nprocessed 1 insns (limit 1000000)\n\x00\x00", "0: R1=ctx() R10=fp0; 0: (95) exit; R0 !read_ok"},
		{"a\nb\n\n  c  \nd\nverification time 5 usec\n", "b; c; d"},
	}
	for _, tt := range tests {
		buf := make([]byte, 64)
		copy(buf, tt.log)
		if got := logTail(buf, 3); got != tt.want {
			t.Errorf("logTail(%q) = %q, want %q", tt.log, got, tt.want)
		}
	}
}
