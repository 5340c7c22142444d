package rootfs

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/openat2"
	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// Real returns the Syscalls that call the kernel.
func Real() Syscalls { return realSys{} }

type realSys struct{}

func (realSys) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}
func (realSys) Unmount(target string, flags int) error { return unix.Unmount(target, flags) }
func (realSys) PivotRoot(newroot, putold string) error { return unix.PivotRoot(newroot, putold) }
func (realSys) Chdir(path string) error                { return unix.Chdir(path) }
func (realSys) Fchdir(fd int) error                    { return unix.Fchdir(fd) }
func (realSys) Chroot(path string) error               { return unix.Chroot(path) }

func (realSys) Openat2(dirfd int, path string, how *unix.OpenHow) (int, error) {
	return openat2.Open(dirfd, path, how)
}
func (realSys) Close(fd int) error                          { return unix.Close(fd) }
func (realSys) Fstat(fd int, st *unix.Stat_t) error         { return unix.Fstat(fd, st) }
func (realSys) Statfs(path string, st *unix.Statfs_t) error { return unix.Statfs(path, st) }
func (realSys) Mkdirat(dirfd int, path string, mode uint32) error {
	return unix.Mkdirat(dirfd, path, mode)
}
func (realSys) Mknodat(dirfd int, path string, mode uint32, dev uint64) error {
	return unix.Mknodat(dirfd, path, mode, int(dev))
}
func (realSys) Fchownat(dirfd int, path string, uid, gid int, flags int) error {
	return unix.Fchownat(dirfd, path, uid, gid, flags)
}
func (realSys) Readlinkat(dirfd int, p string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, p, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func (realSys) Symlinkat(target string, dirfd int, linkpath string) error {
	return unix.Symlinkat(target, dirfd, linkpath)
}
func (realSys) Unlinkat(dirfd int, path string, flags int) error {
	return unix.Unlinkat(dirfd, path, flags)
}
func (realSys) Umask(mask int) int { return unix.Umask(mask) }

func (realSys) OpenTree(dirfd int, path string, flags uint) (int, error) {
	return unix.OpenTree(dirfd, path, flags)
}
func (realSys) MoveMount(fromDirfd int, fromPath string, toDirfd int, toPath string, flags int) error {
	return unix.MoveMount(fromDirfd, fromPath, toDirfd, toPath, flags)
}
func (realSys) MountSetattr(dirfd int, path string, flags uint, attr *unix.MountAttr) error {
	return unix.MountSetattr(dirfd, path, flags, attr)
}
func (realSys) Fsopen(fsname string, flags int) (int, error) { return unix.Fsopen(fsname, flags) }
func (realSys) FsconfigCreate(fd int) error                  { return unix.FsconfigCreate(fd) }
func (realSys) Fsmount(fd int, flags int, attrs int) (int, error) {
	return unix.Fsmount(fd, flags, attrs)
}

func (realSys) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// UsernsFd makes a user namespace with the mappings and returns an fd on
// it. A Go process cannot unshare a user namespace of its own (it is
// multithreaded), so a helper child is started in a new one: with Ptrace
// set it stops on its execve before running a single instruction of the
// program, which is all we need; then it is killed. The namespace lives on
// through the fd.
//
// The mappings are written here, not by ForkExec: the init is in a new PID
// namespace while /proc is still the host's, so the pid ForkExec knows
// names another process there. The helper's pid as /proc sees it is read
// from the fdinfo of a pidfd, which the kernel translates into the PID
// namespace of the procfs instance.
func (realSys) UsernsFd(uids, gids []config.IDMap) (int, error) {
	// ptrace ties the tracee to the tracing thread, which must also be
	// the one that waits for it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pidfd := -1
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"capsa-idmap-userns"}, &syscall.ProcAttr{
		Env: []string{},
		Sys: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER,
			Ptrace:     true,
			Pdeathsig:  syscall.SIGKILL,
			PidFD:      &pidfd,
		},
	})
	if err != nil {
		return -1, fmt.Errorf("start a helper in a new user namespace: %w", err)
	}
	defer func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != unix.EINTR {
				break
			}
		}
		unix.Close(pidfd)
	}()
	procPid, err := pidInProc(pidfd)
	if err != nil {
		return -1, err
	}
	for _, f := range []struct {
		name string
		ms   []config.IDMap
	}{{"uid_map", uids}, {"gid_map", gids}} {
		var b strings.Builder
		for _, m := range f.ms {
			fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		p := fmt.Sprintf("/proc/%d/%s", procPid, f.name)
		if err := os.WriteFile(p, []byte(b.String()), 0); err != nil {
			return -1, fmt.Errorf("write the helper's %s: %w", f.name, err)
		}
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", procPid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the helper's user namespace: %w", err)
	}
	return fd, nil
}

// pidInProc returns the pid of the process behind pidfd as /proc names it.
func pidInProc(pidfd int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", pidfd))
	if err != nil {
		return -1, fmt.Errorf("read pidfd fdinfo: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n <= 0 {
				return -1, fmt.Errorf("the helper is not visible in /proc (pid %q)", strings.TrimSpace(v))
			}
			return n, nil
		}
	}
	return -1, fmt.Errorf("no Pid in pidfd fdinfo")
}
