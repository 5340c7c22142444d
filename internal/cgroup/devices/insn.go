package devices

import (
	"encoding/binary"
	"fmt"
)

// Insn is one eBPF instruction, the kernel's struct bpf_insn:
//
//	u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm;
//
// Only the handful of opcodes Compile emits are named below.
type Insn struct {
	Op  uint8
	Dst uint8 // register 0-10
	Src uint8 // register 0-10
	Off int16 // jump offset in instructions, or memory offset
	Imm int32
}

// Instruction classes, operations and sources (linux/bpf_common.h, linux/bpf.h).
const (
	classLDX   = 0x01
	classALU   = 0x04 // 32-bit: the upper half of dst is zeroed
	classJMP   = 0x05
	classJMP32 = 0x06 // compares the low 32 bits only (Linux 5.1+)
	classALU64 = 0x07

	sizeW   = 0x00 // 32-bit load
	modeMEM = 0x60

	aluAND = 0x50
	aluRSH = 0x70
	aluMOV = 0xb0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJSET = 0x40
	jmpJNE  = 0x50
	jmpEXIT = 0x90

	srcK = 0x00 // operand is Imm
	srcX = 0x08 // operand is Src
)

// Registers used by the compiled program. r1 holds the context pointer on
// entry; r0 is the return value. Nothing is called, so r1-r5 are not
// clobbered and may hold values for the whole program.
const (
	r0 = 0
	r1 = 1
	// rType is the device type from ctx->access_type's low 16 bits.
	rType = 2
	// rMajor and rMinor are ctx->major and ctx->minor.
	rMajor = 3
	rMinor = 4
	// rPending holds the requested access bits no rule has decided yet.
	rPending = 6
)

// Encode returns the 8 bytes the kernel reads for i, in host (little
// endian) order: the register nibbles are dst low, src high.
func (i Insn) Encode() [8]byte {
	var b [8]byte
	b[0] = i.Op
	b[1] = i.Dst&0x0f | i.Src<<4
	binary.LittleEndian.PutUint16(b[2:], uint16(i.Off))
	binary.LittleEndian.PutUint32(b[4:], uint32(i.Imm))
	return b
}

// String renders i for test failures and debugging.
func (i Insn) String() string {
	return fmt.Sprintf("op=%#02x dst=r%d src=r%d off=%d imm=%d", i.Op, i.Dst, i.Src, i.Off, i.Imm)
}

func ldxW(dst, src uint8, off int16) Insn {
	return Insn{Op: classLDX | sizeW | modeMEM, Dst: dst, Src: src, Off: off}
}

func alu32Imm(op, dst uint8, imm int32) Insn {
	return Insn{Op: classALU | op | srcK, Dst: dst, Imm: imm}
}

func alu32Reg(op, dst, src uint8) Insn {
	return Insn{Op: classALU | op | srcX, Dst: dst, Src: src}
}

func mov64Imm(dst uint8, imm int32) Insn {
	return Insn{Op: classALU64 | aluMOV | srcK, Dst: dst, Imm: imm}
}

// jmp32Imm compares the low 32 bits of dst with imm. The 64-bit JMP class
// would sign-extend imm to 64 bits, so a major or minor of 2^31 or more
// (which the kernel loads zero-extended) could never compare equal.
func jmp32Imm(op, dst uint8, imm int32, off int16) Insn {
	return Insn{Op: classJMP32 | op | srcK, Dst: dst, Imm: imm, Off: off}
}

func ja(off int16) Insn {
	return Insn{Op: classJMP | jmpJA, Off: off}
}

func exit() Insn {
	return Insn{Op: classJMP | jmpEXIT}
}
