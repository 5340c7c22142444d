// Package devices is cgroup v2 device control. A v2 hierarchy has no
// devices controller: whether a process may mknod, read or write a device
// node is decided by eBPF programs of type BPF_PROG_TYPE_CGROUP_DEVICE
// attached to its cgroup (and its ancestors). Compile turns the OCI
// linux.resources.devices rules into such a program; Attach loads it and
// puts it on a cgroup in place of the one there before; Detach clears it.
//
// A process is limited by the programs on its cgroup and on every ancestor
// (an access must pass them all), and on a hybrid host also by its v1
// devices cgroup, which is a separate hierarchy.
//
// # Semantics
//
// The rules emulate the v1 devices.allow and devices.deny files, decided
// per access bit: for each requested bit (m, r or w), the last rule in the
// list that matches the device and names that bit decides it, allow or
// deny. A request is allowed only when every bit it asks for is allowed,
// so with
//
//	{allow: false, access: "rwm"}            // deny all
//	{allow: true, type: "c", 1:3, access: "r"}
//	{allow: true, type: "c", 1:3, access: "w"}
//
// opening c 1:3 read-write is allowed (each bit has an allow rule after the
// deny), but with only the first two rules it is refused, as in v1.
//
// A rule matches a device when its type is "a" or "" (any), or "b" for a
// block device, "c" for a character device; and its major and minor are
// nil or -1 (any) or equal. Type "a" honours the major, minor and access
// given with it (v1 treated a bare "a" as "everything"; a list that means
// that writes {type: "a", access: "rwm"} with no numbers, which is the
// same thing). Access "" means "rwm".
//
// A bit no rule decides is denied: an OCI list conventionally begins with
// a deny-all rule, and failing closed is the safe reading of one that does
// not. The one exception is an empty list, which imposes nothing: the
// program allows everything, as a v1 cgroup that was never written to.
// Access bits the kernel may define later are never allowed by any rule
// here, so on a non-empty list they are denied.
package devices

import (
	"fmt"
	"math"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The fields of struct bpf_cgroup_dev_ctx's access_type, from
// linux/bpf.h (golang.org/x/sys/unix has them on Linux only).
const (
	devBlock = 1 // type, low 16 bits
	devChar  = 2
	accMknod = 1 // access, high 16 bits
	accRead  = 2
	accWrite = 4
)

// Program is a compiled device filter. It is immutable once compiled.
type Program struct {
	insns []Insn
}

// Instructions returns a copy of p's instructions.
func (p *Program) Instructions() []Insn {
	return append([]Insn(nil), p.insns...)
}

// rule is one validated linux.resources.devices entry.
type rule struct {
	allow  bool
	typ    int32 // devBlock or devChar, or 0 for any
	major  int64 // -1 for any
	minor  int64 // -1 for any
	access int32 // accMknod|accRead|accWrite bits
}

// Compile turns OCI device rules (linux.resources.devices, in order; the
// last rule that matches a device and an access bit decides that bit) into
// a BPF program. See the package documentation for the exact semantics.
func Compile(rules []specs.LinuxDeviceCgroup) (*Program, error) {
	parsed := make([]rule, len(rules))
	for i, r := range rules {
		pr, err := parseRule(r)
		if err != nil {
			return nil, fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		parsed[i] = pr
	}
	if len(parsed) == 0 {
		// Nothing to enforce. The verifier still wants r0 set before
		// exit, even though the context is never read.
		return &Program{insns: []Insn{mov64Imm(r0, 1), exit()}}, nil
	}

	insns := []Insn{
		// The context is struct bpf_cgroup_dev_ctx { u32 access_type;
		// u32 major; u32 minor; }. The verifier only accepts aligned
		// 32-bit loads at offsets 0, 4 and 8 of it (anything else is
		// "invalid bpf_context access").
		ldxW(rType, r1, 0),
		// access_type is (access << 16) | type.
		alu32Reg(aluMOV, rPending, rType),
		alu32Imm(aluRSH, rPending, 16),
		alu32Imm(aluAND, rType, 0xffff),
		ldxW(rMajor, r1, 4),
		ldxW(rMinor, r1, 8),
		// The kernel always asks for at least one of mknod, read and
		// write; refuse an empty request rather than let the first
		// matching allow rule pass it vacuously.
		jmp32Imm(jmpJNE, rPending, 0, 2),
		mov64Imm(r0, 0),
		exit(),
	}
	// Walk the rules from last to first, so the first one that decides a
	// bit is the last in the list.
	for i := len(parsed) - 1; i >= 0; i-- {
		insns = append(insns, ruleBlock(parsed[i])...)
	}
	// Some requested bit was decided by no rule.
	insns = append(insns, mov64Imm(r0, 0), exit())
	return &Program{insns: insns}, nil
}

// ruleBlock returns the instructions for one rule. They fall through to
// the next rule's block when r does not match the device or decides none
// of the pending bits, and return when it decides the request: a deny
// rule as soon as it names one pending bit, an allow rule once no pending
// bit is left. Every jump is local to the block, so the program's length
// never overflows a jump's 16-bit offset.
func ruleBlock(r rule) []Insn {
	var b []Insn
	var skips []int // indexes of jumps to the end of the block
	skip := func(in Insn) {
		skips = append(skips, len(b))
		b = append(b, in)
	}
	if r.typ != 0 {
		skip(jmp32Imm(jmpJNE, rType, r.typ, 0))
	}
	if r.major >= 0 {
		skip(jmp32Imm(jmpJNE, rMajor, int32(uint32(r.major)), 0))
	}
	if r.minor >= 0 {
		skip(jmp32Imm(jmpJNE, rMinor, int32(uint32(r.minor)), 0))
	}
	if r.allow {
		b = append(b,
			alu32Imm(aluAND, rPending, ^r.access),
			jmp32Imm(jmpJNE, rPending, 0, 2),
			// Every path to exit sets r0: the verifier rejects a
			// program that may return an uninitialised register
			// ("R0 !read_ok").
			mov64Imm(r0, 1),
			exit(),
		)
	} else {
		b = append(b, jmp32Imm(jmpJSET, rPending, r.access, 1))
		skip(ja(0))
		b = append(b, mov64Imm(r0, 0), exit())
	}
	for _, at := range skips {
		b[at].Off = int16(len(b) - at - 1)
	}
	return b
}

func parseRule(r specs.LinuxDeviceCgroup) (rule, error) {
	out := rule{allow: r.Allow}
	switch r.Type {
	case "", "a":
	case "b":
		out.typ = devBlock
	case "c":
		out.typ = devChar
	default:
		return rule{}, fmt.Errorf("type %q is not a, b or c", r.Type)
	}
	var err error
	if out.major, err = parseNumber("major", r.Major); err != nil {
		return rule{}, err
	}
	if out.minor, err = parseNumber("minor", r.Minor); err != nil {
		return rule{}, err
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	for _, c := range access {
		switch c {
		case 'r':
			out.access |= accRead
		case 'w':
			out.access |= accWrite
		case 'm':
			out.access |= accMknod
		default:
			return rule{}, fmt.Errorf("access %q: %q is not r, w or m", r.Access, c)
		}
	}
	return out, nil
}

// parseNumber returns a major or minor number, or -1 for a wildcard.
func parseNumber(field string, v *int64) (int64, error) {
	switch {
	case v == nil || *v == -1:
		return -1, nil
	case *v < 0 || *v > math.MaxUint32:
		return 0, fmt.Errorf("%s %d is out of range (0 to %d, or -1 for any)", field, *v, uint32(math.MaxUint32))
	}
	return *v, nil
}
