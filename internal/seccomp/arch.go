package seccomp

//go:generate go run mksyscalls.go

import (
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32SyscallBit is __X32_SYSCALL_BIT: the x32 ABI runs on an x86_64 kernel,
// reports AUDIT_ARCH_X86_64 in seccomp_data.arch, and is told apart from
// native x86_64 only by this bit in seccomp_data.nr.
const x32SyscallBit = 0x40000000

// arch is one of libseccomp's SCMP_ARCH_* names as the filter sees it.
type arch struct {
	name specs.Arch
	// audit is the AUDIT_ARCH_* value the kernel puts in seccomp_data.arch.
	audit uint32
	// syscalls maps names to numbers; nil for architectures this package
	// has no table for, whose rules are all skipped (see Compile).
	syscalls map[string]uint32
	// args32 is set for 32-bit ABIs. Their syscalls take 32-bit arguments,
	// but seccomp_data.args are 64-bit and the upper half is not reliably
	// zero (a 64-bit process may enter through int $0x80 with garbage in
	// the upper halves of its registers, which the kernel then truncates).
	// For them only the lower half is loaded and the upper half is taken
	// to be zero, so that a rule sees the value the syscall will use.
	args32 bool
}

// archs lists every architecture name of runtime-spec v1.3.0 (libseccomp
// v2.6.0). Only the x86 ones, the ABIs an x86_64 kernel can run, have
// syscall tables.
var archs = []*arch{
	{name: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, syscalls: syscallsX86_64},
	{name: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, syscalls: syscallsX86, args32: true},
	// x32 passes 64-bit registers to mostly 64-bit syscall entry points,
	// so its arguments are compared in full (unlike libseccomp, which
	// treats x32 as a 32-bit architecture).
	{name: specs.ArchX32, audit: unix.AUDIT_ARCH_X86_64, syscalls: syscallsX32},
	{name: specs.ArchARM, audit: unix.AUDIT_ARCH_ARM, args32: true},
	{name: specs.ArchAARCH64, audit: unix.AUDIT_ARCH_AARCH64},
	{name: specs.ArchMIPS, audit: unix.AUDIT_ARCH_MIPS, args32: true},
	{name: specs.ArchMIPS64, audit: unix.AUDIT_ARCH_MIPS64},
	{name: specs.ArchMIPS64N32, audit: unix.AUDIT_ARCH_MIPS64N32},
	{name: specs.ArchMIPSEL, audit: unix.AUDIT_ARCH_MIPSEL, args32: true},
	{name: specs.ArchMIPSEL64, audit: unix.AUDIT_ARCH_MIPSEL64},
	{name: specs.ArchMIPSEL64N32, audit: unix.AUDIT_ARCH_MIPSEL64N32},
	{name: specs.ArchPPC, audit: unix.AUDIT_ARCH_PPC, args32: true},
	{name: specs.ArchPPC64, audit: unix.AUDIT_ARCH_PPC64},
	{name: specs.ArchPPC64LE, audit: unix.AUDIT_ARCH_PPC64LE},
	{name: specs.ArchS390, audit: unix.AUDIT_ARCH_S390, args32: true},
	{name: specs.ArchS390X, audit: unix.AUDIT_ARCH_S390X},
	{name: specs.ArchPARISC, audit: unix.AUDIT_ARCH_PARISC, args32: true},
	{name: specs.ArchPARISC64, audit: unix.AUDIT_ARCH_PARISC64},
	{name: specs.ArchRISCV64, audit: unix.AUDIT_ARCH_RISCV64},
	{name: specs.ArchLOONGARCH64, audit: unix.AUDIT_ARCH_LOONGARCH64},
	{name: specs.ArchM68K, audit: unix.AUDIT_ARCH_M68K, args32: true},
	// libseccomp's "sh" is little-endian SuperH, "sheb" big-endian.
	{name: specs.ArchSH, audit: unix.AUDIT_ARCH_SHEL, args32: true},
	{name: specs.ArchSHEB, audit: unix.AUDIT_ARCH_SH, args32: true},
}

// archByName finds an architecture by its SCMP_ARCH_* name.
func archByName(name specs.Arch) *arch {
	for _, a := range archs {
		if a.name == name {
			return a
		}
	}
	return nil
}

// goarchToSeccomp maps GOARCH to the native architecture's name, the one
// libseccomp always includes in a filter.
var goarchToSeccomp = map[string]specs.Arch{
	"amd64":    specs.ArchX86_64,
	"386":      specs.ArchX86,
	"arm":      specs.ArchARM,
	"arm64":    specs.ArchAARCH64,
	"mips":     specs.ArchMIPS,
	"mipsle":   specs.ArchMIPSEL,
	"mips64":   specs.ArchMIPS64,
	"mips64le": specs.ArchMIPSEL64,
	"ppc64":    specs.ArchPPC64,
	"ppc64le":  specs.ArchPPC64LE,
	"s390x":    specs.ArchS390X,
	"riscv64":  specs.ArchRISCV64,
	"loong64":  specs.ArchLOONGARCH64,
}

// nativeArch is the architecture of this build, or nil if GOARCH has no
// seccomp name.
func nativeArch() *arch {
	return archByName(goarchToSeccomp[runtime.GOARCH])
}
