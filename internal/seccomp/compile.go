package seccomp

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// maxErrno is MAX_ERRNO: the kernel caps a SECCOMP_RET_ERRNO value at it,
// so a larger errnoRet would silently become 4095.
const maxErrno = 4095

// badArchRet is what a syscall from an architecture not in the filter
// gets: libseccomp's default SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL.
const badArchRet = unix.SECCOMP_RET_KILL_THREAD

// Offsets in struct seccomp_data: int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6]. All fields are in the kernel's byte
// order, which is this program's.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// argOffsets returns the offsets of the lower and upper 32-bit halves of
// seccomp_data.args[i].
func argOffsets(i int) (lo, hi uint32) {
	base := uint32(offArgs + 8*i)
	if littleEndian {
		return base, base + 4
	}
	return base + 4, base
}

// cond is one checked linux.seccomp.syscalls[].args entry.
type cond struct {
	index           int
	op              specs.LinuxSeccompOperator
	value, valueTwo uint64
}

// rule is one checked linux.seccomp.syscalls entry, for one of its names.
type rule struct {
	name  string
	conds []cond
	ret   uint32
}

func fieldErr(field, format string, args ...any) error {
	return errdefs.Invalid(field + ": " + fmt.Sprintf(format, args...))
}

// Compile checks the OCI seccomp config and compiles it into a classic BPF
// program. Errors are one line naming the field at fault.
func Compile(c *specs.LinuxSeccomp) (*Filter, error) {
	if c == nil {
		return nil, errdefs.Invalid("linux.seccomp: missing")
	}
	def, err := actionRet(c.DefaultAction, c.DefaultErrnoRet, "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet")
	if err != nil {
		return nil, err
	}
	f := &Filter{notify: c.DefaultAction == specs.ActNotify}

	native := nativeArch()
	if native == nil || native.syscalls == nil {
		// Rules would all be skipped, turning an allow-list into "deny
		// everything" and a deny-list into "allow everything".
		return nil, errdefs.NotImplemented(fmt.Sprintf("linux.seccomp: no syscall table for this machine's architecture (GOARCH %s)", runtime.GOARCH))
	}
	list := []*arch{native}
	for i, name := range c.Architectures {
		a := archByName(name)
		if a == nil {
			return nil, fieldErr(fmt.Sprintf("linux.seccomp.architectures[%d]", i), "unknown architecture %q", name)
		}
		if !containsArch(list, a) {
			list = append(list, a)
		}
	}

	for i, name := range c.Flags {
		v, ok := flagValue(name)
		if !ok {
			return nil, fieldErr(fmt.Sprintf("linux.seccomp.flags[%d]", i), "unknown flag %q", name)
		}
		f.flags |= v
	}

	var rules []rule
	for i, sc := range c.Syscalls {
		field := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if len(sc.Names) == 0 {
			return nil, fieldErr(field+".names", "empty")
		}
		ret, err := actionRet(sc.Action, sc.ErrnoRet, field+".action", field+".errnoRet")
		if err != nil {
			return nil, err
		}
		if sc.Action == specs.ActNotify {
			f.notify = true
		}
		conds := make([]cond, len(sc.Args))
		for j, arg := range sc.Args {
			af := fmt.Sprintf("%s.args[%d]", field, j)
			if arg.Index > 5 {
				return nil, fieldErr(af+".index", "%d is out of range 0-5", arg.Index)
			}
			switch {
			case arg.Op == "":
				return nil, fieldErr(af+".op", "missing")
			case !containsOp(arg.Op):
				return nil, fieldErr(af+".op", "unknown operator %q", arg.Op)
			}
			conds[j] = cond{index: int(arg.Index), op: arg.Op, value: arg.Value, valueTwo: arg.ValueTwo}
		}
		for j, name := range sc.Names {
			if name == "" {
				return nil, fieldErr(fmt.Sprintf("%s.names[%d]", field, j), "empty syscall name")
			}
			rules = append(rules, rule{name: name, conds: conds, ret: ret})
		}
	}
	if !f.notify {
		// The kernel refuses WAIT_KILLABLE_RECV without NEW_LISTENER
		// (EINVAL); it only changes how a listener's target waits, so
		// without SCMP_ACT_NOTIFY it has nothing to act on.
		f.flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}

	g := &generator{a: newAssembler(), def: def}
	f.prog = g.program(list, rules)
	if len(f.prog) > maxInsns {
		return nil, errdefs.Invalid(fmt.Sprintf("linux.seccomp: the compiled filter has %d instructions, more than the kernel's limit of %d", len(f.prog), maxInsns))
	}
	return f, nil
}

// actionRet checks an action and its errno and returns the filter's
// return value for them.
func actionRet(act specs.LinuxSeccompAction, errnoRet *uint, actField, errnoField string) (uint32, error) {
	if act == "" {
		return 0, fieldErr(actField, "missing")
	}
	var ret uint32
	found := false
	for _, a := range actions {
		if a.name == act {
			ret, found = a.ret, true
		}
	}
	if !found {
		return 0, fieldErr(actField, "unknown action %q", act)
	}
	switch act {
	case specs.ActErrno:
		// runtime-spec: the errno defaults to EPERM. An errnoRet of 0
		// makes the syscall return 0 without running it.
		e := uint(unix.EPERM)
		if errnoRet != nil {
			if *errnoRet > maxErrno {
				return 0, fieldErr(errnoField, "%d is above the kernel's MAX_ERRNO (%d)", *errnoRet, maxErrno)
			}
			e = *errnoRet
		}
		return ret | uint32(e), nil
	case specs.ActTrace:
		// The value is handed to the tracer (PTRACE_GETEVENTMSG); it has
		// the 16 bits of SECCOMP_RET_DATA. runc sends EPERM by default
		// too, as runtime-spec's errnoRet default says.
		e := uint(unix.EPERM)
		if errnoRet != nil {
			if *errnoRet > unix.SECCOMP_RET_DATA {
				return 0, fieldErr(errnoField, "%d does not fit in SECCOMP_RET_DATA (%d)", *errnoRet, unix.SECCOMP_RET_DATA)
			}
			e = *errnoRet
		}
		return ret | uint32(e), nil
	}
	if errnoRet != nil {
		// runtime-spec: "When the action doesn't support an errno, the
		// runtime MUST print and error and fail."
		return 0, fieldErr(errnoField, "set, but only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not %s", act)
	}
	return ret, nil
}

func flagValue(name specs.LinuxSeccompFlag) (uintptr, bool) {
	for _, f := range flags {
		if f.name == name {
			return f.val, true
		}
	}
	return 0, false
}

func containsOp(op specs.LinuxSeccompOperator) bool {
	for _, o := range operators {
		if o == op {
			return true
		}
	}
	return false
}

func containsArch(list []*arch, a *arch) bool {
	for _, b := range list {
		if b == a {
			return true
		}
	}
	return false
}

// generator writes the program. Each method returns the label of the
// code it generated, which continues at the labels it was given; see
// assembler for why code is generated from the end.
type generator struct {
	a   *assembler
	def uint32
}

// program generates the whole filter for the architectures in list (the
// native one first, so it is tested first) and the rules, which are in
// config order.
func (g *generator) program(list []*arch, rules []rule) []unix.SockFilter {
	// One section per AUDIT_ARCH value: x86_64 and x32 share one.
	type section struct {
		audit uint32
		archs []*arch
	}
	var sections []*section
	for _, a := range list {
		var s *section
		for _, t := range sections {
			if t.audit == a.audit {
				s = t
			}
		}
		if s == nil {
			s = &section{audit: a.audit}
			sections = append(sections, s)
		}
		s.archs = append(s.archs, a)
	}
	// The end of the program: the returns most jumps lead to.
	g.a.ret(badArchRet)
	g.a.ret(g.def)

	entries := make([]label, len(sections))
	for i := len(sections) - 1; i >= 0; i-- {
		entries[i] = g.section(sections[i].audit, sections[i].archs, rules)
	}
	next := g.a.ret(badArchRet)
	for i := len(sections) - 1; i >= 0; i-- {
		next = g.a.jump(opJEQ, sections[i].audit, entries[i], next)
	}
	g.a.stmt(opLoad, offArch, next)
	return g.a.program()
}

// section generates the code for the architectures that share one
// AUDIT_ARCH value.
func (g *generator) section(audit uint32, as []*arch, rules []rule) label {
	if audit != unix.AUDIT_ARCH_X86_64 {
		return g.loadNr(g.dispatch(as[0], rules))
	}
	var x64, x32 *arch
	for _, a := range as {
		if a.name == specs.ArchX32 {
			x32 = a
		} else {
			x64 = a
		}
	}
	// An x32 syscall is nr | __X32_SYSCALL_BIT under AUDIT_ARCH_X86_64.
	// Without this split, x32 numbers would run through the x86_64 rules
	// and miss them all: "deny mkdir" on x86_64 would not deny x32's
	// mkdir (x32SyscallBit+83). So they get the x32 rules if SCMP_ARCH_X32
	// is configured, else the bad-arch action, as under libseccomp.
	x32Code := g.a.ret(badArchRet)
	if x32 != nil {
		x32Code = g.dispatch(x32, rules)
	}
	if x64 == nil {
		return g.loadNr(g.a.jump(opJGE, x32SyscallBit, x32Code, g.a.ret(badArchRet)))
	}
	x64Code := g.dispatch(x64, rules)
	// nr -1 (syscall(-1), a way to probe for seccomp) also has the bit
	// set but is no x32 syscall: the kernel fails it with ENOSYS. It gets
	// the default action, like any number without rules, rather than
	// the bad-arch kill.
	minus1 := g.a.jump(opJEQ, 0xffffffff, g.a.ret(g.def), x32Code)
	return g.loadNr(g.a.jump(opJGE, x32SyscallBit, minus1, x64Code))
}

// loadNr loads seccomp_data.nr and continues at next, unless next is a
// return, which does not need it.
func (g *generator) loadNr(next label) label {
	if g.a.rev[next].Code == opRet {
		return next
	}
	return g.a.stmt(opLoad, offNr, next)
}

// interval is a range of syscall numbers, from start up to the next
// interval's start, that all go to the same code.
type interval struct {
	start uint32
	to    label
}

// dispatch generates the rules of one architecture and the search tree
// that leads each syscall number to them. It expects nr loaded.
func (g *generator) dispatch(a *arch, rules []rule) label {
	byNr := map[uint32][]rule{}
	for _, r := range rules {
		if nr, ok := a.syscalls[r.name]; ok {
			byNr[nr] = append(byNr[nr], r)
		}
	}
	nrs := make([]uint32, 0, len(byNr))
	for nr := range byNr {
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })

	code := make(map[uint32]label, len(nrs))
	for i := len(nrs) - 1; i >= 0; i-- {
		code[nrs[i]] = g.block(a, byNr[nrs[i]])
	}
	def := g.a.ret(g.def)
	var ivs []interval
	add := func(start uint32, to label) {
		if n := len(ivs); n > 0 && g.same(ivs[n-1].to, to) {
			return
		}
		ivs = append(ivs, interval{start, to})
	}
	add(0, def)
	for i, nr := range nrs {
		add(nr, code[nr])
		if i+1 == len(nrs) || nrs[i+1] != nr+1 {
			add(nr+1, def)
		}
	}
	return g.tree(ivs)
}

// same reports whether two labels do the same: they are one instruction,
// or both return the same value.
func (g *generator) same(l, m label) bool {
	if l == m {
		return true
	}
	a, b := g.a.rev[l], g.a.rev[m]
	return a.Code == opRet && b.Code == opRet && a.K == b.K
}

// tree generates a binary search over intervals that cover all numbers:
// one JGE on an interval's start per inner node, so the leaf reached is
// the interval that holds nr and no final equality test is needed.
func (g *generator) tree(ivs []interval) label {
	if len(ivs) == 1 {
		return ivs[0].to
	}
	m := len(ivs) / 2
	hi := g.tree(ivs[m:])
	lo := g.tree(ivs[:m])
	return g.a.jump(opJGE, ivs[m].start, hi, lo)
}

// block generates the rules of one syscall, tried in order; if none
// matches, the default action.
func (g *generator) block(a *arch, rules []rule) label {
	for i, r := range rules {
		if len(r.conds) == 0 {
			rules = rules[:i+1] // later rules can never be reached
			break
		}
	}
	next := g.a.ret(g.def)
	for i := len(rules) - 1; i >= 0; i-- {
		next = g.rule(a, rules[i], next)
	}
	return next
}

// rule generates the AND of a rule's conditions, returning its action if
// all hold and continuing at fail if one does not.
func (g *generator) rule(a *arch, r rule, fail label) label {
	pass := g.a.ret(r.ret)
	for i := len(r.conds) - 1; i >= 0; i-- {
		pass = g.cond(a, r.conds[i], pass, fail)
	}
	return pass
}

// cond generates one argument comparison. Classic BPF has 32-bit
// registers, so a 64-bit comparison decides on the upper halves and, if
// they are equal, on the lower halves.
func (g *generator) cond(a *arch, c cond, pass, fail label) label {
	if g.same(pass, fail) {
		return pass
	}
	loOff, hiOff := argOffsets(c.index)
	if c.op == specs.OpMaskedEqual {
		// (arg & value) == valueTwo, as libseccomp: value is the mask.
		mhi, mlo := uint32(c.value>>32), uint32(c.value)
		whi, wlo := uint32(c.valueTwo>>32), uint32(c.valueTwo)
		// With a zero upper mask (or upper half), the upper half of the
		// AND is zero: known at compile time.
		hiKnown := a.args32 || mhi == 0
		if hiKnown && whi != 0 {
			return fail
		}
		lo := g.a.jump(opJEQ, wlo, pass, fail)
		if mlo != 0xffffffff {
			lo = g.a.stmt(opAnd, mlo, lo)
		}
		lo = g.a.stmt(opLoad, loOff, lo)
		if hiKnown {
			return lo
		}
		hi := g.a.jump(opJEQ, whi, lo, fail)
		if mhi != 0xffffffff {
			hi = g.a.stmt(opAnd, mhi, hi)
		}
		return g.a.stmt(opLoad, hiOff, hi)
	}

	vhi, vlo := uint32(c.value>>32), uint32(c.value)
	// Where to go when the upper half of the argument is above or below
	// the value's; when they are equal the lower halves decide.
	var above, below label
	switch c.op {
	case specs.OpEqualTo:
		above, below = fail, fail
	case specs.OpNotEqual:
		above, below = pass, pass
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		above, below = pass, fail
	case specs.OpLessThan, specs.OpLessEqual:
		above, below = fail, pass
	}
	if a.args32 && vhi != 0 {
		return below // the argument's upper half is 0
	}
	var lo label
	switch c.op {
	case specs.OpEqualTo:
		lo = g.a.jump(opJEQ, vlo, pass, fail)
	case specs.OpNotEqual:
		lo = g.a.jump(opJEQ, vlo, fail, pass)
	case specs.OpGreaterThan:
		lo = g.a.jump(opJGT, vlo, pass, fail)
	case specs.OpGreaterEqual:
		lo = g.a.jump(opJGE, vlo, pass, fail)
	case specs.OpLessThan:
		lo = g.a.jump(opJGE, vlo, fail, pass)
	case specs.OpLessEqual:
		lo = g.a.jump(opJGT, vlo, fail, pass)
	}
	lo = g.a.stmt(opLoad, loOff, lo)
	if a.args32 {
		return lo
	}
	var hi label
	if g.same(above, below) {
		hi = g.a.jump(opJEQ, vhi, lo, above)
	} else {
		hi = g.a.jump(opJEQ, vhi, lo, below)
		hi = g.a.jump(opJGT, vhi, above, hi)
	}
	return g.a.stmt(opLoad, hiOff, hi)
}
