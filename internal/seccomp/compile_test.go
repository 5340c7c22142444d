package seccomp

import (
	"errors"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

func uintp(v uint) *uint { return &v }

func TestCompileErrors(t *testing.T) {
	allow := specs.LinuxSeccompAction(specs.ActAllow)
	sys := func(s ...specs.LinuxSyscall) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: allow, Syscalls: s}
	}
	arg := func(a specs.LinuxSeccompArg) *specs.LinuxSeccomp {
		return sys(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
			{Index: 0, Op: specs.OpEqualTo}, a,
		}})
	}
	tests := []struct {
		name string
		cfg  *specs.LinuxSeccomp
		want string
	}{
		{"nil", nil, "linux.seccomp: missing"},
		{"no default action", &specs.LinuxSeccomp{}, "linux.seccomp.defaultAction: missing"},
		{"unknown default action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"},
			`linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{"default errno too big", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(4096)},
			"linux.seccomp.defaultErrnoRet: 4096 is above the kernel's MAX_ERRNO (4095)"},
		{"default errno with allow", &specs.LinuxSeccomp{DefaultAction: allow, DefaultErrnoRet: uintp(1)},
			"linux.seccomp.defaultErrnoRet: set, but only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not SCMP_ACT_ALLOW"},
		{"unknown arch", &specs.LinuxSeccomp{DefaultAction: allow, Architectures: []specs.Arch{specs.ArchX86, "SCMP_ARCH_FOO"}},
			`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_FOO"`},
		{"lowercase arch", &specs.LinuxSeccomp{DefaultAction: allow, Architectures: []specs.Arch{"x86_64"}},
			`linux.seccomp.architectures[0]: unknown architecture "x86_64"`},
		{"unknown flag", &specs.LinuxSeccomp{DefaultAction: allow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_NEW_LISTENER"}},
			`linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_NEW_LISTENER"`},
		{"no names", sys(specs.LinuxSyscall{Action: allow}), "linux.seccomp.syscalls[0].names: empty"},
		{"empty name", sys(specs.LinuxSyscall{Names: []string{"read"}, Action: allow}, specs.LinuxSyscall{Names: []string{"write", ""}, Action: allow}),
			"linux.seccomp.syscalls[1].names[1]: empty syscall name"},
		{"no action", sys(specs.LinuxSyscall{Names: []string{"read"}}), "linux.seccomp.syscalls[0].action: missing"},
		{"unknown action", sys(specs.LinuxSyscall{Names: []string{"read"}, Action: "SCMP_ACT_KILL_ALL"}),
			`linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_KILL_ALL"`},
		{"errno too big", sys(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uintp(70000)}),
			"linux.seccomp.syscalls[0].errnoRet: 70000 is above the kernel's MAX_ERRNO (4095)"},
		{"trace data too big", sys(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActTrace, ErrnoRet: uintp(0x10000)}),
			"linux.seccomp.syscalls[0].errnoRet: 65536 does not fit in SECCOMP_RET_DATA (65535)"},
		{"errno with kill", sys(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActKillProcess, ErrnoRet: uintp(1)}),
			"linux.seccomp.syscalls[0].errnoRet: set, but only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not SCMP_ACT_KILL_PROCESS"},
		{"arg index 6", arg(specs.LinuxSeccompArg{Index: 6, Op: specs.OpEqualTo}),
			"linux.seccomp.syscalls[0].args[1].index: 6 is out of range 0-5"},
		{"unknown op", arg(specs.LinuxSeccompArg{Index: 1, Op: "SCMP_CMP_MASKED_NE"}),
			`linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_MASKED_NE"`},
		{"no op", arg(specs.LinuxSeccompArg{Index: 1}), "linux.seccomp.syscalls[0].args[1].op: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.cfg)
			if err == nil {
				t.Fatalf("Compile() = %d instructions, want error %q", len(f.prog), tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Compile() error\n got: %s\nwant: %s", got, tt.want)
			}
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("Compile() error %q is not errdefs.ErrInvalid", err)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	tests := []struct {
		name       string
		cfg        *specs.LinuxSeccomp
		wantNotify bool
		wantFlags  uintptr
	}{
		{"empty allow", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, false, 0},
		{"every arch name", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: allArchs()}, false, 0},
		{"unknown syscall names are skipped", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"no_such_syscall", "s390_runtime_instr"}, Action: specs.ActErrno},
		}}, false, 0},
		{"notify default", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, true, 0},
		{"notify rule", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActAllow},
			{Names: []string{"getppid"}, Action: specs.ActNotify},
		}}, true, 0},
		{"all flags", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{
			"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow,
		}}, false, 0x1 | 0x2 | 0x4},
		// WAIT_KILLABLE_RECV means nothing without a listener, and the
		// kernel refuses it without NEW_LISTENER.
		{"wait killable without notify", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{
			specs.LinuxSeccompFlagWaitKillableRecv,
		}}, false, 0},
		{"wait killable with notify", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify, Flags: []specs.LinuxSeccompFlag{
			specs.LinuxSeccompFlagWaitKillableRecv,
		}}, true, 0x20},
		{"errno 0 and 4095", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(0), Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uintp(4095)},
		}}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.cfg)
			if err != nil {
				t.Fatalf("Compile() error: %v", err)
			}
			if got := f.UsesNotify(); got != tt.wantNotify {
				t.Errorf("UsesNotify() = %v, want %v", got, tt.wantNotify)
			}
			if f.flags != tt.wantFlags {
				t.Errorf("flags = %#x, want %#x", f.flags, tt.wantFlags)
			}
			if err := checkProgram(f.prog); err != nil {
				t.Errorf("program: %v", err)
			}
		})
	}
}

func allArchs() []specs.Arch {
	var s []specs.Arch
	for _, a := range Archs() {
		s = append(s, specs.Arch(a))
	}
	return s
}

func TestFeatureLists(t *testing.T) {
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"Actions", Actions(), []string{"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
			"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"}},
		{"Operators", Operators(), []string{"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
			"SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}},
		{"Archs", Archs(), []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
			"SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
			"SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
			"SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
			"SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB"}},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s() =\n %q\nwant\n %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestSyscallTables spot-checks the generated tables against numbers from
// the kernel's syscall_64.tbl, syscall_32.tbl and the x32 rows.
func TestSyscallTables(t *testing.T) {
	tests := []struct {
		table map[string]uint32
		name  string
		want  uint32
		ok    bool
	}{
		{syscallsX86_64, "read", 0, true},
		{syscallsX86_64, "mkdir", 83, true},
		{syscallsX86_64, "mkdirat", 258, true},
		{syscallsX86_64, "clone3", 435, true},
		{syscallsX86_64, "socketcall", 0, false},
		{syscallsX86, "restart_syscall", 0, true},
		{syscallsX86, "mkdir", 39, true},
		{syscallsX86, "socketcall", 102, true},
		{syscallsX86, "arch_prctl", 384, true},
		{syscallsX32, "read", 0x40000000, true},
		{syscallsX32, "mkdir", 0x40000000 + 83, true},
		{syscallsX32, "execve", 0x40000000 + 520, true}, // x32's own compat execve
		{syscallsX32, "uselib", 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.table[tt.name]
		if got != tt.want || ok != tt.ok {
			t.Errorf("table[%q] = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
