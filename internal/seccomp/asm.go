package seccomp

import "golang.org/x/sys/unix"

// Classic BPF as seccomp allows it: loads of 32-bit words of seccomp_data,
// AND with a constant, conditional jumps against a constant, and returns.
const (
	opLoad = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opAnd  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opJA   = unix.BPF_JMP | unix.BPF_JA
	opJEQ  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJGT  = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJGE  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opRet  = unix.BPF_RET | unix.BPF_K
)

// maxInsns is BPF_MAXINSNS: the kernel rejects a longer filter program.
const maxInsns = 4096

// label names an instruction by its distance from the end of the program:
// the last instruction is label 0.
type label int

// assembler builds a program backwards, last instruction first.
//
// Classic BPF jumps only forwards, so building from the end means every
// jump's targets are already placed when the jump is emitted and its
// offset is known at once. Code generation follows naturally: each piece
// is generated after (that is, placed before) the pieces it continues to,
// and returns the label of its own first instruction.
//
// Conditional jumps have 8-bit offsets; a target more than 255
// instructions away is reached through a trampoline placed just after the
// jump: a copy of the target if that is a return, else an unconditional
// jump (whose offset is 32-bit).
type assembler struct {
	rev []unix.SockFilter // the program, reversed
	// rets holds the nearest return of each value, shared by every jump
	// that can reach it.
	rets map[uint32]label
	// far holds, for a target reached through a trampoline, the nearest
	// such trampoline, so that later far jumps to it can share one.
	far map[label]label
}

func newAssembler() *assembler {
	return &assembler{rets: map[uint32]label{}, far: map[label]label{}}
}

// next is the label the next emitted instruction will get.
func (a *assembler) next() label { return label(len(a.rev)) }

// top is the label of the instruction emitted last: the one an
// instruction emitted now falls through to.
func (a *assembler) top() label { return label(len(a.rev) - 1) }

func (a *assembler) emit(ins unix.SockFilter) label {
	a.rev = append(a.rev, ins)
	return a.top()
}

// offset is the jump offset from the instruction about to be emitted to l.
func (a *assembler) offset(l label) int { return int(a.next() - l - 1) }

// ret returns k: the action of a filter program.
func (a *assembler) ret(k uint32) label {
	if l, ok := a.rets[k]; ok && a.offset(l) <= 255 {
		return l
	}
	l := a.emit(unix.SockFilter{Code: opRet, K: k})
	a.rets[k] = l
	return l
}

// goTo makes the instruction about to be emitted continue at l: nothing
// if l is the one it falls through to, else an unconditional jump.
func (a *assembler) goTo(l label) {
	if l != a.top() {
		a.emit(unix.SockFilter{Code: opJA, K: uint32(a.offset(l))})
	}
}

// stmt emits a load or an ALU instruction that continues at next.
func (a *assembler) stmt(code uint16, k uint32, next label) label {
	a.goTo(next)
	return a.emit(unix.SockFilter{Code: code, K: k})
}

// jump emits a conditional jump to jt if the condition holds, else to jf.
func (a *assembler) jump(code uint16, k uint32, jt, jf label) label {
	if jt == jf {
		return jt
	}
	// Each trampoline moves the jump one further from the other target,
	// so check again until both are in reach.
	for {
		if a.offset(jt) > 255 {
			jt = a.trampoline(jt)
		} else if a.offset(jf) > 255 {
			jf = a.trampoline(jf)
		} else {
			break
		}
	}
	return a.emit(unix.SockFilter{Code: code, Jt: uint8(a.offset(jt)), Jf: uint8(a.offset(jf)), K: k})
}

// trampoline returns a label in reach of a conditional jump about to be
// emitted that behaves like the far label l.
func (a *assembler) trampoline(l label) label {
	if ins := a.rev[l]; ins.Code == opRet {
		return a.ret(ins.K)
	}
	if t, ok := a.far[l]; ok && a.offset(t) <= 255 {
		return t
	}
	t := a.emit(unix.SockFilter{Code: opJA, K: uint32(a.offset(l))})
	a.far[l] = t
	return t
}

// program returns the instructions in execution order.
func (a *assembler) program() []unix.SockFilter {
	p := make([]unix.SockFilter, len(a.rev))
	for i, ins := range a.rev {
		p[len(p)-1-i] = ins
	}
	return p
}
