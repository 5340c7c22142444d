// Package caps names Linux capabilities and applies the five capability sets
// (bounding, permitted, effective, inheritable, ambient) to the calling
// thread. Capabilities are per-thread: callers lock the OS thread and exec
// from it.
package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// names lists capability names by number, as in linux/capability.h.
var names = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// ErrUnknown is returned by Parse for a name that is no capability.
type ErrUnknown struct{ Name string }

func (e *ErrUnknown) Error() string { return fmt.Sprintf("unknown capability %q", e.Name) }

// Parse returns the number of a capability name ("CAP_SYS_ADMIN").
func Parse(name string) (int, error) {
	for i, n := range names {
		if n == name {
			return i, nil
		}
	}
	return 0, &ErrUnknown{Name: name}
}

// Name returns the name of capability n.
func Name(n int) string {
	if n >= 0 && n < len(names) {
		return names[n]
	}
	return "CAP_" + strconv.Itoa(n)
}

// Known lists every capability name this package knows.
func Known() []string { return append([]string(nil), names[:]...) }

var lastCap = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return len(names) - 1
})

// Last returns the highest capability the running kernel knows.
func Last() int { return lastCap() }

// Mask returns the set bits of mask that the running kernel supports.
func Mask(mask uint64) uint64 {
	l := Last()
	if l >= 63 {
		return mask
	}
	return mask & (uint64(1)<<(l+1) - 1)
}

// Sets are the five capability sets as bit masks.
type Sets struct {
	Bounding, Permitted, Effective, Inheritable, Ambient uint64
}

// DropBounding removes from the calling thread's bounding set every
// capability not in keep. It needs CAP_SETPCAP.
func DropBounding(keep uint64) error {
	for c := 0; c <= Last(); c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if err == unix.EINVAL {
				// The kernel does not know this capability.
				continue
			}
			return fmt.Errorf("drop %s from the bounding set: %w", Name(c), err)
		}
	}
	return nil
}

// SetThread sets the permitted, effective and inheritable sets of the
// calling thread with capset(2).
func SetThread(s Sets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Effective, data[1].Effective = uint32(s.Effective), uint32(s.Effective>>32)
	data[0].Permitted, data[1].Permitted = uint32(s.Permitted), uint32(s.Permitted>>32)
	data[0].Inheritable, data[1].Inheritable = uint32(s.Inheritable), uint32(s.Inheritable>>32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// GetThread reads the calling thread's permitted, effective and
// inheritable sets.
func GetThread() (Sets, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return Sets{}, fmt.Errorf("capget: %w", err)
	}
	join := func(lo, hi uint32) uint64 { return uint64(lo) | uint64(hi)<<32 }
	return Sets{
		Effective:   join(data[0].Effective, data[1].Effective),
		Permitted:   join(data[0].Permitted, data[1].Permitted),
		Inheritable: join(data[0].Inheritable, data[1].Inheritable),
	}, nil
}

// SetAmbient clears the ambient set and raises the capabilities in mask.
// Each must already be permitted and inheritable.
func SetAmbient(mask uint64) error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for c := 0; c <= Last(); c++ {
		if mask&(1<<c) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient %s: %w", Name(c), err)
		}
	}
	return nil
}
