package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs the filter on the calling thread with seccomp(2)
// SECCOMP_SET_MODE_FILTER and the config's flags, plus
// SECCOMP_FILTER_FLAG_NEW_LISTENER when UsesNotify. It returns the
// listener fd when notify is used, else -1.
//
// The caller must have locked its goroutine to the OS thread (the filter
// is per thread unless linux.seccomp.flags has SECCOMP_FILTER_FLAG_TSYNC)
// and must either have set no_new_privs or hold CAP_SYS_ADMIN: the kernel
// refuses a filter otherwise (EACCES), so that an unprivileged process
// cannot use one to confuse a setuid program it execs.
func (f *Filter) Load() (int, error) {
	if len(f.prog) == 0 {
		return -1, errors.New("empty filter: use Compile")
	}
	if err := f.checkActions(); err != nil {
		return -1, err
	}
	flags := f.flags
	if f.notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			// On success seccomp(2) returns the listener fd, and with
			// TSYNC a failure to sync returns the offending thread's
			// id, so the kernel refuses the pair (EINVAL) unless
			// TSYNC_ESRCH (Linux 5.7) makes that failure ESRCH.
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	}
	prog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f)
	if e != 0 {
		switch e {
		case unix.EACCES:
			return -1, fmt.Errorf("needs no_new_privs or CAP_SYS_ADMIN: %w", e)
		case unix.EINVAL:
			return -1, fmt.Errorf("flags %#x or program not accepted by this kernel: %w", flags, e)
		case unix.ESRCH:
			return -1, fmt.Errorf("SECCOMP_FILTER_FLAG_TSYNC: another thread has a different filter: %w", e)
		}
		return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", e)
	}
	if f.notify {
		return int(r), nil
	}
	if r != 0 {
		// With TSYNC (and without TSYNC_ESRCH) a thread that cannot be
		// synchronized is reported by its id as a "successful" result.
		return -1, fmt.Errorf("SECCOMP_FILTER_FLAG_TSYNC: thread %d has a different filter", r)
	}
	return -1, nil
}

// checkActions makes sure the kernel knows every action the program
// returns. The kernel does not check return values when it loads a
// filter: before Linux 4.14 an unknown action kills, and SECCOMP_RET_LOG
// or SECCOMP_RET_KILL_PROCESS would kill instead of logging or kill only
// the thread.
func (f *Filter) checkActions() error {
	seen := map[uint32]bool{}
	for _, ins := range f.prog {
		if ins.Code != opRet {
			continue
		}
		act := ins.K & unix.SECCOMP_RET_ACTION_FULL
		if seen[act] {
			continue
		}
		seen[act] = true
		if !actionAvailable(act) {
			return fmt.Errorf("%s is not supported by this kernel", actionName(act))
		}
	}
	return nil
}

// actionAvailable asks the kernel with SECCOMP_GET_ACTION_AVAIL (Linux
// 4.14). A kernel without that operation (EINVAL) knows only the actions
// that predate it.
func actionAvailable(act uint32) bool {
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&act)))
	switch {
	case e == 0:
		return true
	case errors.Is(e, unix.EOPNOTSUPP):
		return false
	case errors.Is(e, unix.EINVAL):
		switch act {
		case unix.SECCOMP_RET_KILL_THREAD, unix.SECCOMP_RET_TRAP, unix.SECCOMP_RET_ERRNO,
			unix.SECCOMP_RET_TRACE, unix.SECCOMP_RET_ALLOW:
			return true
		}
		return false
	}
	// Something else (an outer filter denying seccomp(2), say): let the
	// load itself decide.
	return true
}

func actionName(act uint32) string {
	for _, a := range actions {
		if a.ret == act && a.name != "SCMP_ACT_KILL" {
			return string(a.name)
		}
	}
	return fmt.Sprintf("action %#x", act)
}
