package seccomp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// envChild names the child case a re-executed test binary runs instead
// of the tests: a filter cannot be removed, so each real load happens in
// a fresh process.
const envChild = "CAPSA_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if name := os.Getenv(envChild); name != "" {
		// The filter is per thread: load it and use it on this one.
		runtime.LockOSThread()
		fn, ok := childCases[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child case %q\n", name)
			os.Exit(2)
		}
		if err := fn(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var childCases = map[string]func() error{
	"errno":  childErrno,
	"notify": childNotify,
	"kill":   childKill,
	"tsync":  childTsync,
	"docker": childDocker,
}

// loadWithNNP sets no_new_privs, as an unprivileged container does, then
// compiles and loads cfg.
func loadWithNNP(cfg *specs.LinuxSeccomp) (int, error) {
	f, err := Compile(cfg)
	if err != nil {
		return -1, err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, err
	}
	return f.Load()
}

func childErrno() error {
	dir, err := os.MkdirTemp("", "seccomp-test")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fd, err := loadWithNNP(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(42)},
			// lseek(fd, offset, whence): 64-bit offsets whose halves
			// decide differently, checked by the real kernel.
			{Names: []string{"lseek"}, Action: specs.ActErrno, ErrnoRet: uintp(43), Args: []specs.LinuxSeccompArg{
				{Index: 1, Value: 0x1_00000005, Op: specs.OpEqualTo}}},
			{Names: []string{"lseek"}, Action: specs.ActErrno, ErrnoRet: uintp(44), Args: []specs.LinuxSeccompArg{
				{Index: 1, Value: 0x2_00000000, Op: specs.OpGreaterThan}}},
		},
	})
	if err != nil {
		return fmt.Errorf("load: %v", err)
	}
	if fd != -1 {
		return fmt.Errorf("Load() = %d without notify, want -1", fd)
	}
	target := filepath.Join(dir, "x")
	if err := unix.Mkdir(target, 0o755); !errors.Is(err, syscall.Errno(42)) {
		return fmt.Errorf("mkdir (mkdirat on amd64) = %v, want errno 42", err)
	}
	p, err := unix.BytePtrFromString(target)
	if err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_MKDIR, uintptr(unsafe.Pointer(p)), 0o755, 0); e != 42 {
		return fmt.Errorf("mkdir(2) = errno %d (%v), want 42", e, e)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stat %s after denied mkdir: %v", target, err)
	}
	for _, tt := range []struct {
		off  uint64
		want syscall.Errno
	}{
		{0x1_00000005, 43},
		{0x5, unix.EBADF},          // lower half alone must not match
		{0x3_00000005, 44},         // upper half above
		{0x2_00000000, unix.EBADF}, // equal is not greater
		{0x1_ffffffff, unix.EBADF}, // big lower half, smaller upper half
	} {
		_, _, e := unix.Syscall(unix.SYS_LSEEK, ^uintptr(0), uintptr(tt.off), 0)
		if e != tt.want {
			return fmt.Errorf("lseek(-1, %#x, 0) = errno %d (%v), want %d (%v)", tt.off, e, e, tt.want, tt.want)
		}
	}
	return nil
}

// seccompNotif and seccompNotifResp are struct seccomp_notif and struct
// seccomp_notif_resp of linux/seccomp.h.
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	data  struct {
		nr   int32
		arch uint32
		ip   uint64
		args [6]uint64
	}
}

type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

func childNotify() error {
	fd, err := loadWithNNP(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
	})
	if err != nil {
		return fmt.Errorf("load: %v", err)
	}
	if fd < 0 {
		return fmt.Errorf("Load() = %d with notify, want a listener fd", fd)
	}
	// The supervisor runs on another thread, which has no filter (no
	// TSYNC), and answers getppid with 4242.
	errc := make(chan error, 1)
	go func() {
		var n seccompNotif // must be zeroed: the kernel checks
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); e != 0 {
			errc <- fmt.Errorf("SECCOMP_IOCTL_NOTIF_RECV: %v", e)
			return
		}
		if n.data.nr != unix.SYS_GETPPID || n.data.arch != auditX86_64 {
			errc <- fmt.Errorf("notification for nr %d arch %#x, want getppid", n.data.nr, n.data.arch)
			return
		}
		resp := seccompNotifResp{id: n.id, val: 4242}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); e != 0 {
			errc <- fmt.Errorf("SECCOMP_IOCTL_NOTIF_SEND: %v", e)
			return
		}
		errc <- nil
	}()
	r, _, e := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	if err := <-errc; err != nil {
		return err
	}
	if e != 0 || r != 4242 {
		return fmt.Errorf("getppid() = %d, errno %v; want the supervisor's 4242", r, e)
	}
	return nil
}

func childKill() error {
	if _, err := loadWithNNP(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActKillProcess}},
	}); err != nil {
		return fmt.Errorf("load: %v", err)
	}
	unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	return errors.New("getppid returned under SCMP_ACT_KILL_PROCESS")
}

func childTsync() error {
	if _, err := loadWithNNP(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: uintp(42)}},
	}); err != nil {
		return fmt.Errorf("load: %v", err)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) < 2 {
		return fmt.Errorf("want several threads, found %d (%v)", len(tasks), err)
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "\nSeccomp:\t2\n") {
			return fmt.Errorf("%s: not in seccomp filter mode after TSYNC", p)
		}
	}
	return nil
}

func childDocker() error {
	b, err := os.ReadFile("testdata/docker-like.json")
	if err != nil {
		return err
	}
	var cfg specs.LinuxSeccomp
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	if _, err := loadWithNNP(&cfg); err != nil {
		return fmt.Errorf("load: %v", err)
	}
	src, _ := unix.BytePtrFromString("none")
	dst, _ := unix.BytePtrFromString("/nonexistent-capsa-seccomp-test")
	fstype, _ := unix.BytePtrFromString("tmpfs")
	if _, _, e := unix.Syscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(src)), uintptr(unsafe.Pointer(dst)), uintptr(unsafe.Pointer(fstype)), 0, 0, 0); e != unix.EPERM {
		return fmt.Errorf("mount() = errno %v, want EPERM from the filter", e)
	}
	if r, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0); e != 0 {
		return fmt.Errorf("personality(0xffffffff) = %d, %v; want allowed", r, e)
	}
	r, _, e := unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_NEWUSER|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e == 0 {
		if r == 0 {
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 99, 0, 0) // the unexpected child
		}
		return errors.New("clone(CLONE_NEWUSER) was allowed")
	}
	if e != unix.EPERM {
		return fmt.Errorf("clone(CLONE_NEWUSER) = errno %v, want EPERM", e)
	}
	err = syscall.Exec("/bin/true", []string{"true"}, []string{"PATH=/bin"})
	return fmt.Errorf("exec /bin/true under the profile: %v", err)
}

// runChild runs a child case in a re-executed test binary.
func runChild(t *testing.T, name string) (string, error) {
	t.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+name)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestLoadErrno(t *testing.T) {
	if out, err := runChild(t, "errno"); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
}

func TestLoadNotify(t *testing.T) {
	if out, err := runChild(t, "notify"); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
}

func TestLoadTsyncAndLog(t *testing.T) {
	if out, err := runChild(t, "tsync"); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
}

func TestLoadKillProcess(t *testing.T) {
	out, err := runChild(t, "kill")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v, want death by SIGSYS: %s", err, out)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child ended with %v, want SIGSYS: %s", ws, out)
	}
}

func TestLoadDockerLikeProfileExec(t *testing.T) {
	if _, err := os.Stat("/bin/true"); err != nil {
		t.Skip("no /bin/true")
	}
	if out, err := runChild(t, "docker"); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
}

func TestLoadZeroFilter(t *testing.T) {
	var zero Filter
	if _, err := zero.Load(); err == nil {
		t.Error("Load of a zero Filter succeeded")
	}
}
