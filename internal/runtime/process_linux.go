package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/caps"
	"github.com/capsa-dev/capsa/internal/runtime/config"
	"github.com/capsa-dev/capsa/internal/seccomp"
)

// preparedProcess is a container process ready to exec: everything that
// can fail because of the config has been checked before the runtime is
// told "ready", so that create, not start, reports it.
type preparedProcess struct {
	proc    *config.Process
	path    string
	env     []string
	filter  *seccomp.Filter
	keepFds int // fds 3..3+keepFds-1 stay open across exec
	// sock, if set, is told "exec" just before execve (run and exec).
	sock *syncSocket
}

// defaultPath is used to find the process when its env has no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// prepareProcess resolves the executable and environment inside the
// container's root and applies the per-process settings that need
// privilege (rlimits, OOM score, I/O priority, scheduler).
func prepareProcess(proc *config.Process, cfg *config.Config, ic *initConfig, sock *syncSocket) (*preparedProcess, error) {
	p := &preparedProcess{proc: proc, keepFds: ic.ExtraFds}
	p.env = append([]string(nil), proc.Env...)
	if envGet(p.env, "HOME") == "" {
		p.env = append(p.env, "HOME="+homeDir(proc.UID))
	}
	path, err := lookPath(proc.Args[0], envGet(p.env, "PATH"))
	if err != nil {
		return nil, err
	}
	p.path = path
	for _, rl := range proc.Rlimits {
		// syscall.Setrlimit, not unix's: for RLIMIT_NOFILE it also stops
		// the Go runtime from restoring its startup limit at exec.
		if err := syscall.Setrlimit(rl.Resource, &syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard}); err != nil {
			if errors.Is(err, unix.EPERM) {
				return nil, fmt.Errorf("process.rlimits %s: raising the hard limit to %d needs CAP_SYS_RESOURCE, which this host does not grant: %w", rl.Name, rl.Hard, err)
			}
			return nil, fmt.Errorf("process.rlimits %s: %w", rl.Name, err)
		}
	}
	if proc.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*proc.OOMScoreAdj)), 0); err != nil {
			return nil, fmt.Errorf("process.oomScoreAdj %d: %w", *proc.OOMScoreAdj, err)
		}
	}
	if proc.IOPriority != nil {
		classes := map[string]int{"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
		prio := classes[string(proc.IOPriority.Class)]<<13 | proc.IOPriority.Priority
		// ioprio_set(IOPRIO_WHO_PROCESS, 0 = self, prio)
		if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, 1, 0, uintptr(prio)); e != 0 {
			return nil, fmt.Errorf("process.ioPriority: %w", e)
		}
	}
	if proc.Scheduler != nil {
		if err := setScheduler(proc.Scheduler); err != nil {
			return nil, err
		}
	}
	if cfg.Seccomp != nil {
		f, err := seccomp.Compile(cfg.Seccomp)
		if err != nil {
			return nil, err
		}
		p.filter = f
		if f.UsesNotify() {
			if err := p.loadNotifyFilter(cfg, sock); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// loadNotifyFilter loads a filter with SCMP_ACT_NOTIFY rules now, while the
// runtime still listens, and hands the listener fd to it for the agent at
// linux.seccomp.listenerPath. From here on the init's own syscalls pass the
// filter too; the runtime has sent the fd before init goes on.
func (p *preparedProcess) loadNotifyFilter(cfg *config.Config, sock *syncSocket) error {
	if cfg.Seccomp.ListenerPath == "" {
		return errors.New("linux.seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
	}
	if p.proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	fd, err := p.filter.Load()
	if err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	p.filter = nil
	defer unix.Close(fd)
	if err := sock.sendFd(&syncMsg{Type: msgSeccomp}, fd); err != nil {
		return err
	}
	if _, err := sock.expect(msgAck); err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	return nil
}

// exec finishes the process's setup and execs it; it returns only on error.
//
// Order matters, and follows the kernel's rules:
//  1. fds beyond the preserved ones are marked close-on-exec;
//  2. the bounding set is trimmed while CAP_SETPCAP is still held;
//  3. with PR_SET_KEEPCAPS, the uid/gid switch keeps the permitted set;
//  4. chdir as the target user, then check that the cwd is inside the
//     container's root (CVE-2024-21626: a leaked host fd as cwd);
//  5. the capability sets, then no_new_privs;
//  6. seccomp last, so that the filter does not have to allow the setup's
//     own syscalls — unless no_new_privs is off, in which case loading
//     needs CAP_SYS_ADMIN and happens before the capabilities are dropped.
func (p *preparedProcess) exec() error {
	proc := p.proc
	if err := closeExecFrom(3 + p.keepFds); err != nil {
		return err
	}
	umask := 0o022
	if proc.Umask >= 0 {
		umask = proc.Umask
	}
	unix.Umask(umask)
	if p.filter != nil && !proc.NoNewPrivileges {
		if _, err := p.filter.Load(); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
	}
	if err := caps.DropBounding(proc.Capabilities.Bounding); err != nil {
		return err
	}
	if err := setUser(proc); err != nil {
		return err
	}
	if err := unix.Chdir(proc.Cwd); err != nil {
		return fmt.Errorf("process.cwd %q: %w", proc.Cwd, err)
	}
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("process.cwd %q is outside the container's root", proc.Cwd)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
	}
	c := proc.Capabilities
	if err := caps.SetThread(caps.Sets{Permitted: c.Permitted, Effective: c.Effective, Inheritable: c.Inheritable}); err != nil {
		return fmt.Errorf("process.capabilities: %w", err)
	}
	if c.Ambient != 0 {
		if err := caps.SetAmbient(c.Ambient); err != nil {
			return fmt.Errorf("process.capabilities.ambient: %w", err)
		}
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
		if p.filter != nil {
			if _, err := p.filter.Load(); err != nil {
				return fmt.Errorf("load seccomp filter: %w", err)
			}
		}
	}
	if p.sock != nil {
		_ = p.sock.send(&syncMsg{Type: msgExec})
	}
	err := unix.Exec(p.path, proc.Args, p.env)
	return fmt.Errorf("exec %q: %w", proc.Args[0], err)
}

// setUser switches to the process's uid, gid and supplementary groups on
// this thread only: raw syscalls, not libc's or Go's all-thread versions,
// since this thread is the one that will exec.
func setUser(proc *config.Process) error {
	groups := proc.AdditionalGids
	var gp uintptr
	if len(groups) > 0 {
		gp = uintptr(unsafePointer(&groups[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), gp, 0); e != 0 {
		// In a user namespace with setgroups denied, an empty list is fine.
		if !(e == unix.EPERM && len(groups) == 0) {
			return fmt.Errorf("process.user.additionalGids %v: setgroups: %w", groups, e)
		}
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(proc.GID), uintptr(proc.GID), uintptr(proc.GID)); e != 0 {
		return fmt.Errorf("process.user.gid %d: setresgid: %w", proc.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(proc.UID), uintptr(proc.UID), uintptr(proc.UID)); e != 0 {
		return fmt.Errorf("process.user.uid %d: setresuid: %w", proc.UID, e)
	}
	return nil
}

// closeExecFrom marks every fd >= from close-on-exec, so that nothing of
// the runtime's (sockets, directory fds of the host) reaches the container.
func closeExecFrom(from int) error {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	names, err := d.Readdirnames(-1)
	dfd := int(d.Fd())
	if err != nil {
		d.Close()
		return fmt.Errorf("list fds: %w", err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < from || fd == dfd {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return d.Close()
}

func envGet(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath finds file in the container's PATH, as execvp would.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		if err := isExecutable(file); err != nil {
			return "", fmt.Errorf("exec %q: %w", file, err)
		}
		return file, nil
	}
	if path == "" {
		path = defaultPath
	}
	var firstErr error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		err := isExecutable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, os.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", fmt.Errorf("exec %q: %w", file, firstErr)
	}
	return "", fmt.Errorf("exec %q: executable file not found in $PATH", file)
}

func isExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return unwrapPathErr(err)
	}
	if st.IsDir() {
		return errors.New("is a directory")
	}
	if st.Mode()&0o111 == 0 {
		return os.ErrPermission
	}
	return nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// homeDir looks uid up in the container's /etc/passwd; "/" if absent.
func homeDir(uid uint32) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	want := strconv.FormatUint(uint64(uid), 10)
	for s.Scan() {
		parts := strings.Split(s.Text(), ":")
		if len(parts) >= 6 && parts[2] == want && parts[5] != "" {
			return parts[5]
		}
	}
	return "/"
}
