package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The SECCOMP_RET_* values, spelled out from linux/seccomp.h rather than
// taken from the code under test.
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retNotify      = 0x7fc00000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000

	auditX86_64  = 0xc000003e
	auditI386    = 0x40000003
	auditAarch64 = 0xc00000b7
	x32Bit       = 0x40000000
)

// seccompData is struct seccomp_data.
type seccompData struct {
	nr   int32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d seccompData) String() string {
	return fmt.Sprintf("{nr %#x arch %#x args %#x}", uint32(d.nr), d.arch, d.args)
}

// bytes lays d out as the kernel does, in its byte order.
func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(d.nr))
	ne.PutUint32(b[4:], d.arch)
	ne.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		ne.PutUint64(b[16+8*i:], a)
	}
	return b
}

// checkProgram applies the kernel's static checks that matter here: a
// size within BPF_MAXINSNS, only the instructions seccomp allows, aligned
// in-bounds loads, jumps that stay in the program, and a return at the end.
func checkProgram(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > 4096 {
		return fmt.Errorf("%d instructions", len(prog))
	}
	for pc, ins := range prog {
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if ins.K%4 != 0 || ins.K > 60 {
				return fmt.Errorf("%d: load at offset %d", pc, ins.K)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, unix.BPF_RET | unix.BPF_K:
		case unix.BPF_JMP | unix.BPF_JA:
			if pc+1+int(ins.K) >= len(prog) {
				return fmt.Errorf("%d: ja %d out of the program", pc, ins.K)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			if pc+1+int(max(ins.Jt, ins.Jf)) >= len(prog) {
				return fmt.Errorf("%d: jump %d/%d out of the program", pc, ins.Jt, ins.Jf)
			}
		default:
			return fmt.Errorf("%d: opcode %#x", pc, ins.Code)
		}
	}
	if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K {
		return fmt.Errorf("last instruction %#x is not a return", last.Code)
	}
	return nil
}

// run interprets a classic BPF seccomp program on d and returns what it
// returns, and the number of instructions executed.
func run(prog []unix.SockFilter, d seccompData) (ret uint32, steps int, err error) {
	data := d.bytes()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		steps++
		ins := prog[pc]
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if ins.K%4 != 0 || ins.K+4 > uint32(len(data)) {
				return 0, steps, fmt.Errorf("pc %d: load at offset %d", pc, ins.K)
			}
			a = binary.NativeEndian.Uint32(data[ins.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= ins.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(ins.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += int(pick(a == ins.K, ins.Jt, ins.Jf))
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			pc += int(pick(a > ins.K, ins.Jt, ins.Jf))
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += int(pick(a >= ins.K, ins.Jt, ins.Jf))
		case unix.BPF_RET | unix.BPF_K:
			return ins.K, steps, nil
		default:
			return 0, steps, fmt.Errorf("pc %d: opcode %#x", pc, ins.Code)
		}
	}
	return 0, steps, fmt.Errorf("ran off the end of the program")
}

func pick(c bool, t, f uint8) uint8 {
	if c {
		return t
	}
	return f
}

// refRet is the return value of an action, written independently of
// the compiler's table.
func refRet(act specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	data := uint32(1) // EPERM, runtime-spec's default
	if errnoRet != nil {
		data = uint32(*errnoRet)
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread
	case specs.ActKillProcess:
		return retKillProcess
	case specs.ActTrap:
		return retTrap
	case specs.ActErrno:
		return retErrno | data
	case specs.ActTrace:
		return retTrace | data
	case specs.ActAllow:
		return retAllow
	case specs.ActLog:
		return retLog
	case specs.ActNotify:
		return retNotify
	}
	panic("unknown action " + act)
}

// refEval is what the config means for d, evaluated directly: the oracle
// the compiled program is checked against.
func refEval(c *specs.LinuxSeccomp, d seccompData) uint32 {
	listed := map[specs.Arch]bool{specs.ArchX86_64: true}
	for _, a := range c.Architectures {
		listed[a] = true
	}
	var table map[string]uint32
	args32 := false
	switch {
	case d.arch == auditX86_64 && uint32(d.nr) >= x32Bit && d.nr != -1:
		if !listed[specs.ArchX32] {
			return retKillThread
		}
		table = syscallsX32
	case d.arch == auditX86_64:
		table = syscallsX86_64
	case d.arch == auditI386 && listed[specs.ArchX86]:
		table, args32 = syscallsX86, true
	case d.arch == auditAarch64 && listed[specs.ArchAARCH64]:
		table = nil // no table: only the default action
	default:
		return retKillThread
	}
	names := map[string]bool{}
	for n, nr := range table {
		if nr == uint32(d.nr) {
			names[n] = true
		}
	}
	for _, sc := range c.Syscalls {
		named := false
		for _, n := range sc.Names {
			named = named || names[n]
		}
		if named && argsMatch(sc.Args, d.args, args32) {
			return refRet(sc.Action, sc.ErrnoRet)
		}
	}
	return refRet(c.DefaultAction, c.DefaultErrnoRet)
}

func argsMatch(args []specs.LinuxSeccompArg, vals [6]uint64, args32 bool) bool {
	for _, a := range args {
		v := vals[a.Index]
		if args32 {
			v = uint64(uint32(v))
		}
		var ok bool
		switch a.Op {
		case specs.OpNotEqual:
			ok = v != a.Value
		case specs.OpLessThan:
			ok = v < a.Value
		case specs.OpLessEqual:
			ok = v <= a.Value
		case specs.OpEqualTo:
			ok = v == a.Value
		case specs.OpGreaterEqual:
			ok = v >= a.Value
		case specs.OpGreaterThan:
			ok = v > a.Value
		case specs.OpMaskedEqual:
			ok = v&a.Value == a.ValueTwo
		}
		if !ok {
			return false
		}
	}
	return true
}

func mustCompile(t *testing.T, c *specs.LinuxSeccomp) *Filter {
	t.Helper()
	f, err := Compile(c)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if err := checkProgram(f.prog); err != nil {
		t.Fatalf("compiled program: %v", err)
	}
	return f
}

func mustRun(t *testing.T, f *Filter, d seccompData) uint32 {
	t.Helper()
	got, _, err := run(f.prog, d)
	if err != nil {
		t.Fatalf("run %v: %v", d, err)
	}
	return got
}

func x64(name string, args ...uint64) seccompData {
	d := seccompData{nr: int32(syscallsX86_64[name]), arch: auditX86_64}
	copy(d.args[:], args)
	return d
}

func TestProgramActions(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(38),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchAARCH64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "no_such_call", "exit_group"}, Action: specs.ActAllow},
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(42)},
			{Names: []string{"getpid"}, Action: specs.ActKillProcess},
			{Names: []string{"gettid"}, Action: specs.ActKill},
			{Names: []string{"getuid"}, Action: specs.ActTrap},
			{Names: []string{"getgid"}, Action: specs.ActTrace, ErrnoRet: uintp(0x1234)},
			{Names: []string{"geteuid"}, Action: specs.ActTrace},
			{Names: []string{"getegid"}, Action: specs.ActLog},
			{Names: []string{"getppid"}, Action: specs.ActNotify},
			{Names: []string{"rmdir"}, Action: specs.ActErrno},
			// Two rules for one syscall, tried in order: the first
			// whose arguments match wins, then the unconditional one.
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: uintp(7), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: specs.ActLog},
			{Names: []string{"personality"}, Action: specs.ActKillProcess}, // never reached
			// Two arguments ANDed.
			{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 100, Op: specs.OpGreaterEqual},
				{Index: 1, Value: 9, Op: specs.OpNotEqual},
			}},
		},
	}
	f := mustCompile(t, cfg)
	i386 := func(name string, args ...uint64) seccompData {
		nr, ok := syscallsX86[name]
		if !ok {
			t.Fatalf("no i386 %s", name)
		}
		d := seccompData{nr: int32(nr), arch: auditI386}
		copy(d.args[:], args)
		return d
	}
	tests := []struct {
		name string
		d    seccompData
		want uint32
	}{
		{"default action", x64("chroot"), retErrno | 38},
		{"allowed", x64("read"), retAllow},
		{"allowed, second name", x64("exit_group"), retAllow},
		{"errno 42", x64("mkdir"), retErrno | 42},
		{"errno 42, mkdirat", x64("mkdirat"), retErrno | 42},
		{"errno default EPERM", x64("rmdir"), retErrno | 1},
		{"kill process", x64("getpid"), retKillProcess},
		{"kill is kill thread", x64("gettid"), retKillThread},
		{"trap", x64("getuid"), retTrap},
		{"trace with data", x64("getgid"), retTrace | 0x1234},
		{"trace default data EPERM", x64("geteuid"), retTrace | 1},
		{"log", x64("getegid"), retLog},
		{"notify", x64("getppid"), retNotify},
		{"first rule", x64("personality", 0xffffffff), retAllow},
		{"second rule", x64("personality", 8), retErrno | 7},
		{"unconditional third rule", x64("personality", 0), retLog},
		{"third rule: upper half differs", x64("personality", 0x1_ffffffff), retLog},
		{"both args match", x64("kill", 100, 15), retAllow},
		{"first arg fails", x64("kill", 99, 15), retErrno | 38},
		{"second arg fails", x64("kill", 1000, 9), retErrno | 38},
		{"number past the table", seccompData{nr: 5000, arch: auditX86_64}, retErrno | 38},
		{"nr -1 gets the default", seccompData{nr: -1, arch: auditX86_64}, retErrno | 38},
		// x32 is not configured: x32 numbers must not reach x86_64 rules.
		{"x32 read, x32 not listed", seccompData{nr: x32Bit, arch: auditX86_64}, retKillThread},
		{"x32 mkdir, x32 not listed", seccompData{nr: x32Bit | 83, arch: auditX86_64}, retKillThread},
		{"i386 listed: mkdir", i386("mkdir"), retErrno | 42},
		{"i386 listed: read", i386("read"), retAllow},
		{"i386 listed: socketcall has no rule", i386("socketcall"), retErrno | 38},
		// i386 arguments are 32-bit: the upper half is ignored.
		{"i386 arg upper half ignored", i386("personality", 0x5_ffffffff), retAllow},
		{"aarch64 listed, no table: default", seccompData{nr: 63, arch: auditAarch64}, retErrno | 38},
		{"foreign arch: bad-arch kill", seccompData{nr: 0, arch: 0x40000028 /* ARM */}, retKillThread},
		{"garbage arch", seccompData{nr: 0, arch: 0}, retKillThread},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustRun(t, f, tt.d); got != tt.want {
				t.Errorf("run(%v) = %#x, want %#x", tt.d, got, tt.want)
			}
			if ref := refEval(cfg, tt.d); ref != tt.want {
				t.Errorf("refEval(%v) = %#x, want %#x (test table or oracle is wrong)", tt.d, ref, tt.want)
			}
		})
	}
}

func TestProgramX32(t *testing.T) {
	x32Listed := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: uintp(42)},
			{Names: []string{"execve"}, Action: specs.ActErrno, ErrnoRet: uintp(43)},
			// A 64-bit comparison on x32: its arguments are full registers.
			{Names: []string{"lseek"}, Action: specs.ActErrno, ErrnoRet: uintp(44), Args: []specs.LinuxSeccompArg{
				{Index: 1, Value: 0x1_00000000, Op: specs.OpGreaterEqual},
			}},
		},
	}
	onlyX32 := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX32},
		Syscalls:      x32Listed.Syscalls,
	}
	tests := []struct {
		name string
		cfg  *specs.LinuxSeccomp
		d    seccompData
		want uint32
	}{
		{"x86_64 mkdir", x32Listed, x64("mkdir"), retErrno | 42},
		{"x32 mkdir", x32Listed, seccompData{nr: x32Bit + 83, arch: auditX86_64}, retErrno | 42},
		// x32's execve is 520, not x86_64's 59.
		{"x32 execve", x32Listed, seccompData{nr: x32Bit + 520, arch: auditX86_64}, retErrno | 43},
		{"x32 59 is not execve", x32Listed, seccompData{nr: x32Bit + 59, arch: auditX86_64}, retAllow},
		{"x86_64 520 is not execve", x32Listed, seccompData{nr: 520, arch: auditX86_64}, retAllow},
		{"x32 lseek upper half", x32Listed, seccompData{nr: x32Bit + 8, arch: auditX86_64, args: [6]uint64{0, 0x1_00000000}}, retErrno | 44},
		{"x32 lseek low", x32Listed, seccompData{nr: x32Bit + 8, arch: auditX86_64, args: [6]uint64{0, 0xffffffff}}, retAllow},
		{"x32 nr -1", x32Listed, seccompData{nr: -1, arch: auditX86_64}, retAllow},
		// X86_64 is native, so it is in every filter.
		{"native always in", onlyX32, x64("mkdir"), retErrno | 42},
		{"only x32 listed: x32 mkdir", onlyX32, seccompData{nr: x32Bit + 83, arch: auditX86_64}, retErrno | 42},
		{"i386 not listed", onlyX32, seccompData{nr: 39, arch: auditI386}, retKillThread},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.cfg)
			if got := mustRun(t, f, tt.d); got != tt.want {
				t.Errorf("run(%v) = %#x, want %#x", tt.d, got, tt.want)
			}
			if ref := refEval(tt.cfg, tt.d); ref != tt.want {
				t.Errorf("refEval(%v) = %#x, want %#x", tt.d, ref, tt.want)
			}
		})
	}
}

// TestProgramOperators checks every operator on 64-bit values, including
// ones whose upper halves differ while the lower halves would decide the
// other way, on x86_64 (64-bit arguments) and i386 (32-bit arguments).
func TestProgramOperators(t *testing.T) {
	const (
		big   = 0x2_00000010 // upper half 2, lower 0x10
		upper = 0x1_00000020 // smaller, but a larger lower half
		above = 0x3_00000001 // larger, but a smaller lower half
	)
	tests := []struct {
		op       specs.LinuxSeccompOperator
		value    uint64
		valueTwo uint64
		arg      uint64
		want     bool
	}{
		{specs.OpEqualTo, big, 0, big, true},
		{specs.OpEqualTo, big, 0, 0x10, false},         // lower halves equal
		{specs.OpEqualTo, big, 0, 0x2_00000011, false}, // upper halves equal
		{specs.OpEqualTo, 0, 0, 0, true},
		{specs.OpNotEqual, big, 0, big, false},
		{specs.OpNotEqual, big, 0, 0x10, true},
		{specs.OpNotEqual, big, 0, 0x2_00000011, true},
		{specs.OpGreaterThan, big, 0, big, false},
		{specs.OpGreaterThan, big, 0, big + 1, true},
		{specs.OpGreaterThan, big, 0, upper, false},
		{specs.OpGreaterThan, big, 0, above, true},
		{specs.OpGreaterThan, big, 0, 0x2_0000000f, false},
		{specs.OpGreaterEqual, big, 0, big, true},
		{specs.OpGreaterEqual, big, 0, big - 1, false},
		{specs.OpGreaterEqual, big, 0, upper, false},
		{specs.OpGreaterEqual, big, 0, above, true},
		{specs.OpGreaterEqual, 0, 0, 0, true},
		{specs.OpLessThan, big, 0, big, false},
		{specs.OpLessThan, big, 0, big - 1, true},
		{specs.OpLessThan, big, 0, upper, true},
		{specs.OpLessThan, big, 0, above, false},
		{specs.OpLessThan, 0, 0, 0, false},
		{specs.OpLessEqual, big, 0, big, true},
		{specs.OpLessEqual, big, 0, big + 1, false},
		{specs.OpLessEqual, big, 0, upper, true},
		{specs.OpLessEqual, big, 0, above, false},
		{specs.OpLessEqual, ^uint64(0), 0, ^uint64(0), true},
		// (arg & value) == valueTwo
		{specs.OpMaskedEqual, 0x00ff0000_000000ff, 0x00120000_00000034, 0xab12cdef_00ab1234, true},
		{specs.OpMaskedEqual, 0x00ff0000_000000ff, 0x00120000_00000034, 0xab13cdef_00ab1234, false}, // upper differs
		{specs.OpMaskedEqual, 0x00ff0000_000000ff, 0x00120000_00000034, 0xab12cdef_00ab1235, false}, // lower differs
		{specs.OpMaskedEqual, 0x7e020000, 0, 0x11, true},                                            // clone without CLONE_NEW*
		{specs.OpMaskedEqual, 0x7e020000, 0, 0x10000000 | 0x11, false},                              // CLONE_NEWUSER
		{specs.OpMaskedEqual, 0x7e020000, 0, 0xffffffff_00000011, true},                             // upper half not in the mask
		{specs.OpMaskedEqual, 0xffffffff_ffffffff, 0x1_00000000, 0x1_00000000, true},
		{specs.OpMaskedEqual, 0xff, 0x100, 0x100, false}, // valueTwo outside the mask: never
	}
	for _, arch := range []struct {
		name  specs.Arch
		audit uint32
		nr    uint32
	}{{specs.ArchX86_64, auditX86_64, syscallsX86_64["lseek"]}, {specs.ArchX86, auditI386, syscallsX86["lseek"]}} {
		for i, tt := range tests {
			for _, index := range []uint{0, 3, 5} {
				cfg := &specs.LinuxSeccomp{
					DefaultAction: specs.ActAllow,
					Architectures: []specs.Arch{arch.name},
					Syscalls: []specs.LinuxSyscall{{Names: []string{"lseek"}, Action: specs.ActErrno, ErrnoRet: uintp(9),
						Args: []specs.LinuxSeccompArg{{Index: index, Op: tt.op, Value: tt.value, ValueTwo: tt.valueTwo}}}},
				}
				f := mustCompile(t, cfg)
				d := seccompData{nr: int32(arch.nr), arch: arch.audit}
				d.args[index] = tt.arg
				got := mustRun(t, f, d)
				want := refEval(cfg, d)
				if arch.audit == auditX86_64 {
					// The table's expectation holds for 64-bit arguments.
					if tt.want != (want == retErrno|9) {
						t.Fatalf("case %d: oracle disagrees with the table", i)
					}
				}
				if got != want {
					t.Errorf("%s: args[%d] %#x %s %#x (valueTwo %#x): got %#x, want %#x",
						arch.name, index, tt.arg, tt.op, tt.value, tt.valueTwo, got, want)
				}
			}
		}
	}
}

// TestProgramLongJumps compiles a profile with rules on every syscall of
// two architectures, big enough that many jumps reach more than 255
// instructions, and checks every syscall against the oracle.
func TestProgramLongJumps(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86},
	}
	names := sortedNames(syscallsX86_64, syscallsX86)
	for i, n := range names {
		sc := specs.LinuxSyscall{Names: []string{n}, Action: specs.ActErrno, ErrnoRet: uintp(uint(i%4000 + 1)),
			Args: []specs.LinuxSeccompArg{{Index: uint(i % 6), Value: uint64(i) << 31, Op: specs.OpEqualTo}}}
		cfg.Syscalls = append(cfg.Syscalls, sc)
		if i%3 == 0 {
			cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{Names: []string{n}, Action: specs.ActAllow})
		}
	}
	f := mustCompile(t, cfg)
	longJA := 0
	for _, ins := range f.prog {
		if ins.Code == opJA && ins.K > 255 {
			longJA++
		}
	}
	t.Logf("%d syscall names, %d rules, %d instructions, %d long jumps", len(names), len(cfg.Syscalls), len(f.prog), longJA)
	if len(f.prog) < 1024 || longJA == 0 {
		t.Fatalf("%d instructions and %d long jumps: the test does not exercise long jumps", len(f.prog), longJA)
	}
	checked := 0
	for _, tab := range []struct {
		audit uint32
		m     map[string]uint32
	}{{auditX86_64, syscallsX86_64}, {auditI386, syscallsX86}} {
		for i, n := range names {
			nr, ok := tab.m[n]
			if !ok {
				continue
			}
			for _, v := range []uint64{uint64(i) << 31, 0, uint64(i)<<31 + 1} {
				d := seccompData{nr: int32(nr), arch: tab.audit}
				d.args[i%6] = v
				if got, want := mustRun(t, f, d), refEval(cfg, d); got != want {
					t.Fatalf("%s (nr %#x) args[%d]=%#x: got %#x, want %#x", n, nr, i%6, v, got, want)
				}
				checked++
			}
		}
	}
	t.Logf("%d syscall data checked", checked)
}

func sortedNames(tables ...map[string]uint32) []string {
	seen := map[string]bool{}
	var s []string
	for _, m := range tables {
		for n := range m {
			if !seen[n] {
				seen[n] = true
				s = append(s, n)
			}
		}
	}
	sort.Strings(s)
	return s
}

// TestProgramRandom compares compiled programs with the oracle on random
// configs and random syscalls.
func TestProgramRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	pool := []string{"read", "write", "open", "openat", "close", "mmap", "mprotect", "lseek", "ioctl", "clone",
		"personality", "socket", "kill", "mkdir", "mkdirat", "execve", "futex", "getpid", "socketcall", "_llseek",
		"arch_prctl", "uselib", "no_such_call", "chown32", "set_thread_area", "rt_sigaction", "prctl", "bpf"}
	values := []uint64{0, 1, 2, 8, 0x7fffffff, 0x80000000, 0xffffffff, 0x1_00000000, 0x1_00000001,
		0xffffffff_00000000, 0xffffffff_ffffffff, 0x7e020000, 0x12345678_9abcdef0}
	val := func() uint64 {
		if rng.Intn(4) == 0 {
			return rng.Uint64() >> rng.Intn(64)
		}
		return values[rng.Intn(len(values))]
	}
	acts := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActTrap, specs.ActLog, specs.ActTrace, specs.ActNotify}
	allArchList := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64}
	for iter := 0; iter < 300; iter++ {
		cfg := &specs.LinuxSeccomp{DefaultAction: acts[rng.Intn(len(acts))]}
		for _, a := range allArchList {
			if rng.Intn(2) == 0 {
				cfg.Architectures = append(cfg.Architectures, a)
			}
		}
		nrules := rng.Intn(40)
		if iter%50 == 0 {
			nrules = 600 // big enough for long jumps
		}
		for r := 0; r < nrules; r++ {
			sc := specs.LinuxSyscall{Action: acts[rng.Intn(len(acts))]}
			for n := rng.Intn(3) + 1; n > 0; n-- {
				sc.Names = append(sc.Names, pool[rng.Intn(len(pool))])
			}
			if sc.Action == specs.ActErrno && rng.Intn(2) == 0 {
				sc.ErrnoRet = uintp(uint(rng.Intn(4096)))
			}
			for n := rng.Intn(4); n > 0; n-- {
				sc.Args = append(sc.Args, specs.LinuxSeccompArg{Index: uint(rng.Intn(6)), Op: operators[rng.Intn(len(operators))], Value: val(), ValueTwo: val()})
			}
			cfg.Syscalls = append(cfg.Syscalls, sc)
		}
		f, err := Compile(cfg)
		if err != nil {
			t.Fatalf("iteration %d: Compile: %v", iter, err)
		}
		if err := checkProgram(f.prog); err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		for k := 0; k < 300; k++ {
			var d seccompData
			switch rng.Intn(6) {
			case 0, 1, 2:
				d = seccompData{arch: auditX86_64, nr: int32(syscallsX86_64[pool[rng.Intn(len(pool))]])}
			case 3:
				d = seccompData{arch: auditI386, nr: int32(syscallsX86[pool[rng.Intn(len(pool))]])}
			case 4:
				d = seccompData{arch: auditX86_64, nr: int32(syscallsX32[pool[rng.Intn(len(pool))]])}
			case 5:
				d = seccompData{arch: []uint32{auditX86_64, auditI386, auditAarch64, 0x40000028}[rng.Intn(4)], nr: int32(rng.Uint32() >> rng.Intn(32))}
			}
			for i := range d.args {
				d.args[i] = val()
			}
			got, _, err := run(f.prog, d)
			if err != nil {
				t.Fatalf("iteration %d: run %v: %v", iter, d, err)
			}
			if want := refEval(cfg, d); got != want {
				b, _ := json.Marshal(cfg)
				t.Fatalf("iteration %d: run %v = %#x, want %#x\nconfig: %s", iter, d, got, want, b)
			}
		}
	}
}

// TestDockerLikeProfile compiles the Docker-shaped profile in testdata
// and checks a few verdicts and the cost of a lookup.
func TestDockerLikeProfile(t *testing.T) {
	cfg := loadProfile(t)
	f := mustCompile(t, cfg)
	tests := []struct {
		name string
		d    seccompData
		want uint32
	}{
		{"read", x64("read"), retAllow},
		{"execve", x64("execve"), retAllow},
		{"mount denied", x64("mount"), retErrno | 1},
		{"unshare denied", x64("unshare"), retErrno | 1},
		{"personality query", x64("personality", 0xffffffff), retAllow},
		{"personality other", x64("personality", 0x0400000), retErrno | 1},
		{"clone thread", x64("clone", 0x3d0f00), retAllow},
		{"clone newuser", x64("clone", 0x10000000|0x11), retErrno | 1},
		{"clone3 ENOSYS", x64("clone3"), retErrno | 38},
		{"socket inet", x64("socket", 2), retAllow},
		{"socket vsock", x64("socket", 40), retErrno | 1},
		{"x32 write", seccompData{nr: x32Bit + 1, arch: auditX86_64}, retAllow},
		{"i386 socketcall", seccompData{nr: 102, arch: auditI386}, retAllow},
	}
	for _, tt := range tests {
		if got := mustRun(t, f, tt.d); got != tt.want {
			t.Errorf("%s: run(%v) = %#x, want %#x", tt.name, tt.d, got, tt.want)
		}
	}
	// The binary search keeps every lookup short: count the instructions
	// run for syscalls whose rules have no arguments to test.
	most := 0
	for n, nr := range syscallsX86_64 {
		if n == "personality" || n == "clone" || n == "socket" {
			continue
		}
		_, steps, err := run(f.prog, seccompData{nr: int32(nr), arch: auditX86_64, args: [6]uint64{0xffffffff}})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		most = max(most, steps)
	}
	t.Logf("%d instructions; at most %d executed for an x86_64 syscall", len(f.prog), most)
	if most > 16 {
		t.Errorf("a syscall took %d instructions, want at most 16", most)
	}
}

func loadProfile(t *testing.T) *specs.LinuxSeccomp {
	t.Helper()
	b, err := os.ReadFile("testdata/docker-like.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg specs.LinuxSeccomp
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// TestAssemblerTrampolines pins the long-jump handling on a small case: a
// conditional jump over 300 instructions.
func TestAssemblerTrampolines(t *testing.T) {
	a := newAssembler()
	far := a.ret(retAllow)
	farJA := a.ret(retLog)
	farJA = a.stmt(opAnd, 1, farJA) // not a return: needs a JA trampoline
	for i := 0; i < 300; i++ {
		a.emit(unix.SockFilter{Code: opRet, K: retErrno | uint32(i)})
	}
	near := a.ret(retTrap)
	j1 := a.jump(opJEQ, 1, far, near)
	j2 := a.jump(opJEQ, 2, farJA, j1)
	a.stmt(opLoad, offNr, j2)
	prog := a.program()
	if err := checkProgram(prog); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		nr   int32
		want uint32
	}{{1, retAllow}, {2, retLog}, {3, retTrap}}
	for _, tt := range tests {
		got, _, err := run(prog, seccompData{nr: tt.nr})
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("nr %d: got %#x, want %#x", tt.nr, got, tt.want)
		}
	}
}
