package devices

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64 { return &v }

func TestCompileErrors(t *testing.T) {
	ok := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}
	tests := []struct {
		name string
		rule specs.LinuxDeviceCgroup
		want string // the whole error, for the rule placed at index 1
	}{
		{"bad type", specs.LinuxDeviceCgroup{Type: "x"}, `linux.resources.devices[1]: type "x" is not a, b or c`},
		{"two types", specs.LinuxDeviceCgroup{Type: "cb"}, `linux.resources.devices[1]: type "cb" is not a, b or c`},
		{"upper-case type", specs.LinuxDeviceCgroup{Type: "C"}, `linux.resources.devices[1]: type "C" is not a, b or c`},
		{"bad access", specs.LinuxDeviceCgroup{Type: "c", Access: "rx"}, `linux.resources.devices[1]: access "rx": 'x' is not r, w or m`},
		{"upper-case access", specs.LinuxDeviceCgroup{Type: "c", Access: "R"}, `linux.resources.devices[1]: access "R": 'R' is not r, w or m`},
		{"access with space", specs.LinuxDeviceCgroup{Type: "c", Access: "r w"}, `linux.resources.devices[1]: access "r w": ' ' is not r, w or m`},
		{"negative major", specs.LinuxDeviceCgroup{Type: "c", Major: i64(-2)}, `linux.resources.devices[1]: major -2 is out of range (0 to 4294967295, or -1 for any)`},
		{"major over uint32", specs.LinuxDeviceCgroup{Type: "c", Major: i64(1 << 32)}, `linux.resources.devices[1]: major 4294967296 is out of range (0 to 4294967295, or -1 for any)`},
		{"negative minor", specs.LinuxDeviceCgroup{Type: "b", Major: i64(8), Minor: i64(-5)}, `linux.resources.devices[1]: minor -5 is out of range (0 to 4294967295, or -1 for any)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile([]specs.LinuxDeviceCgroup{ok, tt.rule, ok})
			got := fmt.Sprint(err)
			if err == nil {
				got = fmt.Sprintf("no error (%d instructions)", len(p.insns))
			}
			if got != tt.want {
				t.Errorf("Compile error = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	tests := []struct {
		name string
		rule specs.LinuxDeviceCgroup
	}{
		{"empty type and access", specs.LinuxDeviceCgroup{}},
		{"wildcards as -1", specs.LinuxDeviceCgroup{Type: "b", Major: i64(-1), Minor: i64(-1), Access: "m"}},
		{"largest numbers", specs.LinuxDeviceCgroup{Type: "c", Major: i64(1<<32 - 1), Minor: i64(1<<32 - 1), Access: "r"}},
		{"zero numbers", specs.LinuxDeviceCgroup{Type: "c", Major: i64(0), Minor: i64(0), Access: "w"}},
		{"repeated access", specs.LinuxDeviceCgroup{Type: "a", Access: "rrw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Compile([]specs.LinuxDeviceCgroup{tt.rule}); err != nil {
				t.Errorf("Compile(%+v) = %v, want no error", tt.rule, err)
			}
		})
	}
}

func TestInsnEncode(t *testing.T) {
	tests := []struct {
		in   Insn
		want [8]byte
	}{
		// r2 = *(u32 *)(r1 + 4)
		{ldxW(2, 1, 4), [8]byte{0x61, 0x12, 0x04, 0, 0, 0, 0, 0}},
		// if w3 != 0x80000001 goto +3
		{jmp32Imm(jmpJNE, 3, -0x7fffffff, 3), [8]byte{0x56, 0x03, 0x03, 0, 0x01, 0, 0, 0x80}},
		// w6 &= ~7
		{alu32Imm(aluAND, 6, ^7), [8]byte{0x54, 0x06, 0, 0, 0xf8, 0xff, 0xff, 0xff}},
		// w6 = w2
		{alu32Reg(aluMOV, 6, 2), [8]byte{0xbc, 0x26, 0, 0, 0, 0, 0, 0}},
		// r0 = 1
		{mov64Imm(0, 1), [8]byte{0xb7, 0, 0, 0, 1, 0, 0, 0}},
		// goto -1
		{ja(-1), [8]byte{0x05, 0, 0xff, 0xff, 0, 0, 0, 0}},
		{exit(), [8]byte{0x95, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		if got := tt.in.Encode(); got != tt.want {
			t.Errorf("%v: Encode() = % x, want % x", tt.in, got, tt.want)
		}
	}
}

// devCtx is struct bpf_cgroup_dev_ctx.
type devCtx struct {
	typ, access  uint32
	major, minor uint32
}

// run interprets the subset of eBPF that Compile emits, checking what the
// verifier would: known opcodes only, loads only from the context at
// offsets 0, 4 and 8, no read of an unset register, jumps inside the
// program, and r0 set at exit.
func run(insns []Insn, ctx devCtx) (uint64, error) {
	var (
		reg   [11]uint64
		isSet [11]bool
		isCtx [11]bool
	)
	isSet[1], isCtx[1] = true, true
	ctxWords := [3]uint32{ctx.access<<16 | ctx.typ, ctx.major, ctx.minor}
	read := func(pc int, r uint8) (uint64, error) {
		if r > 10 || !isSet[r] {
			return 0, fmt.Errorf("insn %d reads unset r%d", pc, r)
		}
		if isCtx[r] {
			return 0, fmt.Errorf("insn %d uses the context pointer r%d as a number", pc, r)
		}
		return reg[r], nil
	}
	write := func(r uint8, v uint64) {
		reg[r], isSet[r], isCtx[r] = v, true, false
	}
	for pc, steps := 0, 0; ; steps++ {
		if pc < 0 || pc >= len(insns) {
			return 0, fmt.Errorf("pc %d outside the program (%d instructions)", pc, len(insns))
		}
		if steps > 1<<20 {
			return 0, errors.New("too many steps")
		}
		in := insns[pc]
		if in.Dst > 10 || in.Src > 10 {
			return 0, fmt.Errorf("insn %d: bad register in %v", pc, in)
		}
		switch class := in.Op & 0x07; class {
		case classLDX:
			if in.Op != classLDX|sizeW|modeMEM {
				return 0, fmt.Errorf("insn %d: unsupported load %v", pc, in)
			}
			if !isCtx[in.Src] {
				return 0, fmt.Errorf("insn %d: load from r%d, not the context", pc, in.Src)
			}
			if in.Off < 0 || in.Off > 8 || in.Off%4 != 0 {
				return 0, fmt.Errorf("insn %d: load at context offset %d", pc, in.Off)
			}
			write(in.Dst, uint64(ctxWords[in.Off/4]))
			pc++
		case classALU, classALU64:
			var src uint64
			if in.Op&srcX != 0 {
				v, err := read(pc, in.Src)
				if err != nil {
					return 0, err
				}
				src = v
			} else {
				src = uint64(int64(in.Imm)) // sign-extended, as the kernel does
			}
			var dst uint64
			if in.Op&0xf0 != aluMOV {
				v, err := read(pc, in.Dst)
				if err != nil {
					return 0, err
				}
				dst = v
			}
			if class == classALU {
				src, dst = uint64(uint32(src)), uint64(uint32(dst))
			}
			var v uint64
			switch in.Op & 0xf0 {
			case aluMOV:
				v = src
			case aluAND:
				v = dst & src
			case aluRSH:
				if class == classALU {
					v = dst >> (src & 31)
				} else {
					v = dst >> (src & 63)
				}
			default:
				return 0, fmt.Errorf("insn %d: unsupported alu op %v", pc, in)
			}
			if class == classALU {
				v = uint64(uint32(v)) // 32-bit ops zero the upper half
			}
			write(in.Dst, v)
			pc++
		case classJMP, classJMP32:
			op := in.Op & 0xf0
			if op == jmpEXIT && class == classJMP {
				if !isSet[0] {
					return 0, fmt.Errorf("insn %d: exit with r0 unset", pc)
				}
				return reg[0], nil
			}
			if op == jmpJA && class == classJMP {
				pc += 1 + int(in.Off)
				continue
			}
			if in.Op&srcX != 0 {
				return 0, fmt.Errorf("insn %d: unsupported register jump %v", pc, in)
			}
			d, err := read(pc, in.Dst)
			if err != nil {
				return 0, err
			}
			k := uint64(int64(in.Imm))
			if class == classJMP32 {
				d, k = uint64(uint32(d)), uint64(uint32(k))
			}
			var taken bool
			switch op {
			case jmpJEQ:
				taken = d == k
			case jmpJNE:
				taken = d != k
			case jmpJSET:
				taken = d&k != 0
			default:
				return 0, fmt.Errorf("insn %d: unsupported jump %v", pc, in)
			}
			pc++
			if taken {
				pc += int(in.Off)
			}
		default:
			return 0, fmt.Errorf("insn %d: unsupported class in %v", pc, in)
		}
	}
}

// Device types and access bits for the cases below.
const (
	b, c    = devBlock, devChar
	m, r, w = accMknod, accRead, accWrite
	rw, rwm = r | w, r | w | m
)

var denyAll = specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}

func allow(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: access}
}

func deny(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: false, Type: typ, Major: &major, Minor: &minor, Access: access}
}

// defaultRules is cgroup.DefaultDeviceRules (runc's list), copied: that
// package will import this one.
func defaultRules() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Access: "m"},
		{Allow: true, Type: "b", Access: "m"},
		allow("c", 1, 3, "rwm"),    // null
		allow("c", 1, 5, "rwm"),    // zero
		allow("c", 1, 7, "rwm"),    // full
		allow("c", 1, 8, "rwm"),    // random
		allow("c", 1, 9, "rwm"),    // urandom
		allow("c", 5, 0, "rwm"),    // tty
		allow("c", 5, 2, "rwm"),    // ptmx
		allow("c", 136, -1, "rwm"), // pts/*
		allow("c", 10, 200, "rwm"), // net/tun
	}
}

type check struct {
	typ, major, minor, access uint32
	want                      bool // allowed
}

func TestProgram(t *testing.T) {
	tests := []struct {
		name   string
		rules  []specs.LinuxDeviceCgroup
		checks []check
	}{
		{
			name:  "deny all, allow null",
			rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "rwm")},
			checks: []check{
				{c, 1, 3, r, true}, {c, 1, 3, w, true}, {c, 1, 3, rw, true}, {c, 1, 3, m, true}, {c, 1, 3, rwm, true},
				{c, 1, 5, r, false}, {c, 1, 5, m, false},
				{b, 1, 3, r, false}, // type matters
				{c, 3, 1, r, false}, // major and minor are not swapped
			},
		},
		{
			name: "wildcard minor, major and both",
			rules: []specs.LinuxDeviceCgroup{
				denyAll,
				allow("c", 136, -1, "rwm"),
				{Allow: true, Type: "b", Minor: i64(5), Access: "r"}, // nil major
				allow("c", -1, -1, "m"),
			},
			checks: []check{
				{c, 136, 0, rw, true}, {c, 136, 4095, rw, true}, {c, 137, 0, r, false},
				{b, 8, 5, r, true}, {b, 259, 5, r, true}, {b, 8, 5, w, false}, {b, 8, 6, r, false},
				{c, 4, 1, m, true}, {c, 4, 1, r, false}, {b, 8, 0, m, false},
			},
		},
		{
			name:  "type a and empty type match block and char",
			rules: []specs.LinuxDeviceCgroup{denyAll, allow("a", 1, 3, "rw"), allow("", 7, -1, "m")},
			checks: []check{
				{b, 1, 3, r, true}, {c, 1, 3, w, true}, {c, 1, 3, m, false}, {c, 1, 4, r, false},
				{b, 7, 0, m, true}, {c, 7, 9, m, true}, {c, 7, 9, r, false},
			},
		},
		{
			name:  "allowed access is a set",
			rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "r")},
			checks: []check{
				{c, 1, 3, r, true}, {c, 1, 3, w, false}, {c, 1, 3, rw, false}, {c, 1, 3, m, false},
			},
		},
		{
			name:   "access allowed by two rules together",
			rules:  []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "r"), allow("c", 1, -1, "w")},
			checks: []check{{c, 1, 3, rw, true}, {c, 1, 3, rwm, false}, {c, 1, 4, rw, false}, {c, 1, 4, w, true}},
		},
		{
			name:  "later deny overrides earlier allow",
			rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, -1, "rwm"), deny("c", 1, 5, "w")},
			checks: []check{
				{c, 1, 5, r, true}, {c, 1, 5, w, false}, {c, 1, 5, rw, false}, {c, 1, 5, m, true},
				{c, 1, 3, rw, true},
			},
		},
		{
			name:  "later allow overrides earlier deny",
			rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, -1, "rwm"), deny("c", 1, 5, "rwm"), allow("c", 1, 5, "r")},
			checks: []check{
				{c, 1, 5, r, true}, {c, 1, 5, w, false}, {c, 1, 5, rw, false}, {c, 1, 7, rw, true},
			},
		},
		{
			name:  "deny all after allows wins",
			rules: []specs.LinuxDeviceCgroup{allow("c", 1, 3, "rwm"), denyAll},
			checks: []check{
				{c, 1, 3, r, false}, {b, 8, 0, m, false},
			},
		},
		{
			name:  "runc default list behind deny all",
			rules: append([]specs.LinuxDeviceCgroup{denyAll}, defaultRules()...),
			checks: []check{
				{c, 1, 3, rw, true}, {c, 1, 5, rw, true}, {c, 1, 7, rw, true}, {c, 1, 8, r, true},
				{c, 1, 9, r, true}, {c, 5, 0, rw, true}, {c, 5, 2, rw, true}, {c, 136, 0, rw, true},
				{c, 136, 17, rw, true}, {c, 10, 200, rw, true},
				// mknod of anything, opening only the listed nodes
				{c, 4, 0, m, true}, {b, 8, 0, m, true}, {c, 1, 3, m, true},
				{c, 4, 0, r, false}, {c, 5, 1, rw, false}, {c, 10, 229, rw, false},
				{b, 8, 0, r, false}, {b, 1, 3, r, false}, {c, 1, 1, r, false}, {c, 1, 4, w, false},
				{c, 4, 0, r | m, false},
			},
		},
		{
			name:   "empty list allows everything",
			rules:  nil,
			checks: []check{{c, 1, 3, rw, true}, {b, 8, 0, rwm, true}, {c, 10, 229, m, true}},
		},
		{
			name:   "no rule decides: denied",
			rules:  []specs.LinuxDeviceCgroup{allow("c", 1, 3, "rwm")},
			checks: []check{{c, 1, 3, rw, true}, {c, 1, 5, r, false}, {b, 8, 0, m, false}},
		},
		{
			name:   "deny-only list denies everything",
			rules:  []specs.LinuxDeviceCgroup{deny("c", 10, 200, "rwm")},
			checks: []check{{c, 10, 200, r, false}, {c, 1, 3, r, false}},
		},
		{
			name:   "allow all, deny tun",
			rules:  []specs.LinuxDeviceCgroup{{Allow: true}, deny("c", 10, 200, "rwm")},
			checks: []check{{c, 10, 200, r, false}, {c, 10, 200, m, false}, {c, 1, 3, rw, true}, {b, 8, 0, rwm, true}},
		},
		{
			name:  "access bits unknown to the rules are denied",
			rules: []specs.LinuxDeviceCgroup{{Allow: true, Type: "a", Access: "rwm"}},
			checks: []check{
				{c, 1, 3, 8, false}, {c, 1, 3, r | 8, false}, {c, 1, 3, 0x8000, false},
				{c, 1, 3, 0, false}, // an empty request
				{3, 1, 3, r, true},  // a type unknown today still matches "a"
			},
		},
		{
			name: "numbers of 2^31 and more",
			rules: []specs.LinuxDeviceCgroup{
				denyAll,
				allow("c", 1<<32-1, 1<<32-1, "r"),
				allow("b", 1<<31, 0x80000001, "r"),
			},
			checks: []check{
				{c, 1<<32 - 1, 1<<32 - 1, r, true}, {c, 1<<32 - 1, 1<<32 - 2, r, false},
				{b, 1 << 31, 0x80000001, r, true}, {b, 1<<31 - 1, 0x80000001, r, false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, ck := range tt.checks {
				ctx := devCtx{typ: ck.typ, access: ck.access, major: ck.major, minor: ck.minor}
				got, err := run(p.Instructions(), ctx)
				if err != nil {
					t.Fatalf("%s: %v\n%s", ctxString(ctx), err, listing(p))
				}
				if got != 0 && got != 1 {
					t.Errorf("%s: program returned %d, want 0 or 1", ctxString(ctx), got)
				}
				if allowed := got == 1; allowed != ck.want {
					t.Errorf("%s: allowed = %v, want %v", ctxString(ctx), allowed, ck.want)
				}
			}
		})
	}
}

func ctxString(ctx devCtx) string {
	typ := map[uint32]string{devBlock: "b", devChar: "c"}[ctx.typ]
	if typ == "" {
		typ = fmt.Sprintf("type%d", ctx.typ)
	}
	var acc strings.Builder
	for _, a := range []struct {
		bit uint32
		s   string
	}{{accRead, "r"}, {accWrite, "w"}, {accMknod, "m"}} {
		if ctx.access&a.bit != 0 {
			acc.WriteString(a.s)
		}
	}
	if rest := ctx.access &^ rwm; rest != 0 || ctx.access == 0 {
		fmt.Fprintf(&acc, "+%#x", rest)
	}
	return fmt.Sprintf("%s %d:%d %s", typ, ctx.major, ctx.minor, acc.String())
}

func listing(p *Program) string {
	var s strings.Builder
	for i, in := range p.insns {
		fmt.Fprintf(&s, "%3d: %v\n", i, in)
	}
	return s.String()
}

// TestRunCatchesFaults makes sure the interpreter can fail: a program the
// verifier would reject must not pass it.
func TestRunCatchesFaults(t *testing.T) {
	tests := []struct {
		name  string
		insns []Insn
	}{
		{"r0 unset at exit", []Insn{exit()}},
		{"falls off the end", []Insn{mov64Imm(r0, 1)}},
		{"load past the context", []Insn{ldxW(2, 1, 12), mov64Imm(r0, 1), exit()}},
		{"load from a number", []Insn{mov64Imm(2, 0), ldxW(3, 2, 0), mov64Imm(r0, 1), exit()}},
		{"read unset register", []Insn{alu32Imm(aluAND, 5, 1), mov64Imm(r0, 1), exit()}},
		{"jump out", []Insn{ja(5), mov64Imm(r0, 1), exit()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := run(tt.insns, devCtx{typ: c, access: r, major: 1, minor: 3}); err == nil {
				t.Errorf("run = %d, nil; want an error", got)
			}
		})
	}
}
