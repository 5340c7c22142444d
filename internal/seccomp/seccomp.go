// Package seccomp compiles an OCI runtime-spec seccomp configuration
// (linux.seccomp) into a classic BPF program and installs it with
// seccomp(2), without libseccomp or cgo.
//
// # The program
//
// The compiled program has three levels:
//
//  1. Architecture: seccomp_data.arch is compared with each configured
//     architecture (the native one, SCMP_ARCH_X86_64 on amd64, is always
//     included, as libseccomp does). A syscall from any other architecture
//     gets the "bad arch" action, SCMP_ACT_KILL (SECCOMP_RET_KILL_THREAD):
//     that is libseccomp's default, which runc and crun keep, so it is what
//     a container sees under them. On AUDIT_ARCH_X86_64, a syscall number
//     with __X32_SYSCALL_BIT set is an x32 syscall: it goes to the
//     SCMP_ARCH_X32 rules if that architecture is configured, else it gets
//     the bad-arch action, so x32 numbers never reach the x86_64 rules.
//  2. Syscall number: a binary search over the numbers that have rules,
//     with consecutive numbers of the same outcome merged into ranges
//     (one JGE per range boundary, so no final equality test), so a
//     syscall costs O(log n) comparisons. libseccomp, as runc and crun use
//     it by default, tests the numbers one after the other, which can take
//     hundreds of comparisons on a large allow-list; with the Docker-like
//     profile in testdata no x86_64 syscall without argument rules runs
//     more than 12 instructions here.
//  3. Rules: the rules naming one syscall form one block and are tried in
//     the order of linux.seccomp.syscalls; the first whose arguments all
//     match decides the action; if none does, the default action applies.
//     64-bit argument comparisons are made on the two 32-bit halves of
//     seccomp_data.args[i], upper half first.
//
// # Names
//
// Syscall tables exist for SCMP_ARCH_X86_64, SCMP_ARCH_X86 and
// SCMP_ARCH_X32, generated from the kernel's uapi headers (go generate
// runs mksyscalls.go). A syscall name unknown to an architecture is
// skipped for that architecture, and a name unknown to all of them is
// skipped altogether, as runc and libseccomp do: profiles such as
// Docker's list syscalls of every architecture. Other architectures'
// names are accepted, but having no table they get only the default
// action; an x86_64 kernel never reports them.
//
// # Differences from libseccomp
//
//   - Rules for one syscall are tried in config order; libseccomp merges
//     them into a tree whose order the config does not control.
//   - Arguments of 32-bit ABIs (SCMP_ARCH_X86) are compared as the 32-bit
//     values the syscall sees; x32 arguments are compared in full.
//   - The tables come from the installed headers, so a syscall newer than
//     them is unknown and gets the default action; there is no runc-style
//     ENOSYS for syscalls newer than the profile.
//   - On i386, a rule for "socket" does not also cover socketcall(2) with
//     SYS_SOCKET, as libseccomp's multiplexed-syscall rewriting does.
package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Filter is a compiled seccomp filter, ready to Load.
type Filter struct {
	prog []unix.SockFilter
	// flags are the SECCOMP_FILTER_FLAG_* of linux.seccomp.flags;
	// Load adds the ones notification needs.
	flags  uintptr
	notify bool
}

// UsesNotify reports whether any rule (or the default action) is
// SCMP_ACT_NOTIFY, in which case Load returns a listener fd.
func (f *Filter) UsesNotify() bool { return f.notify }

// actions maps each SCMP_ACT_* name to its SECCOMP_RET_* value.
var actions = []struct {
	name specs.LinuxSeccompAction
	ret  uint32
}{
	// SCMP_ACT_KILL is libseccomp's old name for killing the thread.
	{specs.ActKill, unix.SECCOMP_RET_KILL_THREAD},
	// SECCOMP_RET_KILL_PROCESS needs Linux 4.14. Older kernels mask the
	// action with SECCOMP_RET_ACTION (0x7fff0000), which turns it into
	// SECCOMP_RET_KILL_THREAD; Load refuses it there instead.
	{specs.ActKillProcess, unix.SECCOMP_RET_KILL_PROCESS},
	{specs.ActKillThread, unix.SECCOMP_RET_KILL_THREAD},
	{specs.ActTrap, unix.SECCOMP_RET_TRAP},
	{specs.ActErrno, unix.SECCOMP_RET_ERRNO},
	// Without a tracer attached the kernel fails the syscall with ENOSYS.
	{specs.ActTrace, unix.SECCOMP_RET_TRACE},
	{specs.ActAllow, unix.SECCOMP_RET_ALLOW},
	// SECCOMP_RET_LOG needs Linux 4.14.
	{specs.ActLog, unix.SECCOMP_RET_LOG},
	// SECCOMP_RET_USER_NOTIF needs Linux 5.0 and a listener
	// (SECCOMP_FILTER_FLAG_NEW_LISTENER); without one the syscall fails
	// with ENOSYS.
	{specs.ActNotify, unix.SECCOMP_RET_USER_NOTIF},
}

// operators lists the SCMP_CMP_* names, in libseccomp's order.
var operators = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

// flags maps linux.seccomp.flags names to SECCOMP_FILTER_FLAG_* values.
var flags = []struct {
	name specs.LinuxSeccompFlag
	val  uintptr
}{
	// TSYNC applies the filter to all threads of the process; the init
	// process is a Go program, so that includes the runtime's threads.
	{"SECCOMP_FILTER_FLAG_TSYNC", unix.SECCOMP_FILTER_FLAG_TSYNC},
	{specs.LinuxSeccompFlagLog, unix.SECCOMP_FILTER_FLAG_LOG},                             // Linux 4.14
	{specs.LinuxSeccompFlagSpecAllow, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},                // Linux 4.17
	{specs.LinuxSeccompFlagWaitKillableRecv, unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV}, // Linux 5.19
}

// Actions returns the SCMP_ACT_* names Compile accepts, for
// `capsa-runtime features`.
func Actions() []string {
	s := make([]string, len(actions))
	for i, a := range actions {
		s[i] = string(a.name)
	}
	return s
}

// Operators returns the SCMP_CMP_* names Compile accepts.
func Operators() []string {
	s := make([]string, len(operators))
	for i, o := range operators {
		s[i] = string(o)
	}
	return s
}

// Archs returns the SCMP_ARCH_* names Compile accepts.
func Archs() []string {
	s := make([]string, len(archs))
	for i, a := range archs {
		s[i] = string(a.name)
	}
	return s
}
