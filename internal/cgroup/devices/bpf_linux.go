//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || loong64 || mips64le)

// The attr structs below hold user pointers as unsafe.Pointer, so the
// garbage collector sees them and keeps (and never stack-moves) what they
// point to; that needs the 8-byte pointers of a 64-bit platform, and Insn
// encoding assumes little endian. Other platforms get bpf_other.go.

package devices

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// progName names the programs capsa loads (at most 15 bytes, letters,
// digits, '_' and '.'), so bpftool prog shows whose they are.
const progName = "capsa_devices"

// license is what the kernel records for the program. It only matters
// for calling GPL-only helpers, and a device filter calls none, so the
// string need not be GPL-compatible; the kernel still requires a valid
// NUL-terminated string at the pointer.
var license = []byte("Apache-2.0\x00")

// verifierLogSize is the buffer the verifier writes its log into when a
// load is retried to explain a rejection. Since Linux 6.4 the log is a
// ring that keeps the tail (the part naming the fault); before, a log
// that did not fit failed the load with ENOSPC and kept the head.
const verifierLogSize = 256 << 10

// union bpf_attr, the parts of it each command reads. The kernel copies
// the size passed and treats the rest as zero.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              unsafe.Pointer
	license            unsafe.Pointer
	logLevel           uint32
	logSize            uint32
	logBuf             unsafe.Pointer
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// progAttachAttr serves BPF_PROG_ATTACH and BPF_PROG_DETACH.
type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type progQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32 // out
	progIDs     unsafe.Pointer
	progCnt     uint32 // in: room in progIDs; out: programs attached
	_           uint32
}

type getFdByIDAttr struct {
	progID    uint32
	nextID    uint32
	openFlags uint32
}

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return int(r), errno
	}
	return int(r), nil
}

// Attach loads p and attaches it to the cgroup v2 directory dir with
// BPF_F_ALLOW_MULTI, then detaches every device program that was there
// before. The new filter is in place before the old ones go, so there is
// no moment without a filter; in between, a device must pass both (the
// kernel allows an access only if every attached program does). If the
// program there was attached without BPF_F_ALLOW_MULTI, the new one
// replaces it in that mode instead.
func (p *Program) Attach(dir string) error {
	if err := p.attach(dir); err != nil {
		return fmt.Errorf("attach device filter to %q: %w", dir, err)
	}
	return nil
}

func (p *Program) attach(dir string) error {
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(cg)

	// Every device program on the container's cgroup is capsa's: the
	// ones there now are the ones to replace.
	old, oldFlags, err := query(cg)
	if err != nil {
		return err
	}
	prog, err := load(p.insns)
	if err != nil {
		return err
	}
	// Once attached, the cgroup holds its own reference to the program.
	defer unix.Close(prog)

	flags := uint32(unix.BPF_F_ALLOW_MULTI)
	if len(old) > 0 && oldFlags&unix.BPF_F_ALLOW_MULTI == 0 {
		// A program attached without BPF_F_ALLOW_MULTI (by an older
		// runtime) makes the kernel refuse a multi attach beside it
		// with EPERM: all programs of one type on a cgroup share one
		// mode. Attaching in that program's own mode replaces it in
		// one step instead, which is just as free of a gap.
		flags = oldFlags
		old = nil
	}
	attr := progAttachAttr{
		targetFd:    uint32(cg),
		attachBpfFd: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: flags,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		if errors.Is(err, unix.EPERM) {
			// Besides a missing CAP_SYS_ADMIN, the kernel says EPERM
			// when an ancestor cgroup has a device program attached
			// without BPF_F_ALLOW_OVERRIDE or BPF_F_ALLOW_MULTI, which
			// forbids programs below it.
			return fmt.Errorf("bpf prog attach (an ancestor's device program may forbid it): %w", err)
		}
		return fmt.Errorf("bpf prog attach: %w", err)
	}
	return detachIDs(cg, old)
}

// Detach removes every device program attached to the cgroup v2
// directory dir. Processes in it are then limited only by the device
// programs of its ancestors.
func Detach(dir string) error {
	if err := detachAll(dir); err != nil {
		return fmt.Errorf("detach device filters from %q: %w", dir, err)
	}
	return nil
}

func detachAll(dir string) error {
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(cg)
	ids, _, err := query(cg)
	if err != nil {
		return err
	}
	return detachIDs(cg, ids)
}

// attached returns the ids of the device programs attached directly to
// the cgroup v2 directory dir (not those inherited from its ancestors).
func attached(dir string) ([]uint32, error) {
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("query device filters of %q: open: %w", dir, err)
	}
	defer unix.Close(cg)
	ids, _, err := query(cg)
	if err != nil {
		return nil, fmt.Errorf("query device filters of %q: %w", dir, err)
	}
	return ids, nil
}

// load hands insns to the verifier and returns the program's fd.
//
// On Linux before 5.11 a program's memory was charged to RLIMIT_MEMLOCK,
// and a low limit failed the load with EPERM even for root; since 5.11 it
// is charged to the memory cgroup instead and the rlimit plays no part.
// capsa does not raise the rlimit for the caller.
func load(insns []Insn) (int, error) {
	code := make([]byte, 0, 8*len(insns))
	for _, in := range insns {
		b := in.Encode()
		code = append(code, b[:]...)
	}
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns)),
		insns:    unsafe.Pointer(&code[0]),
		license:  unsafe.Pointer(&license[0]),
		// The kernel ignores the expected attach type for this
		// program type; it is set for what it documents.
		expectedAttachType: unix.BPF_CGROUP_DEVICE,
	}
	copy(attr.progName[:], progName)
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		return fd, nil
	}
	// The verifier refuses a program with EACCES (or EINVAL for some
	// malformed ones); any other error is not about the program.
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EACCES) {
		return -1, fmt.Errorf("bpf prog load: %w", err)
	}
	// The verifier says why only into a log buffer, and writing the log
	// slows it down, so it is asked for only on the retry.
	log := make([]byte, verifierLogSize)
	attr.logLevel = 1
	attr.logSize = uint32(len(log))
	attr.logBuf = unsafe.Pointer(&log[0])
	fd, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err2 == nil {
		// Passed the second time: nothing to explain.
		return fd, nil
	}
	tail := logTail(log, 3)
	if tail == "" {
		// EINVAL from the checks before the verifier runs.
		return -1, fmt.Errorf("bpf prog load: %w", err)
	}
	return -1, fmt.Errorf("bpf prog load rejected by the verifier: %s: %w", tail, err)
}

// logTail returns the last n lines of a NUL-terminated verifier log that
// say something about the program, joined into one line. The statistics
// the verifier ends with ("processed 5 insns ...") are left out.
func logTail(log []byte, n int) string {
	if i := bytes.IndexByte(log, 0); i >= 0 {
		log = log[:i]
	}
	var lines []string
	for l := range strings.SplitSeq(string(log), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "processed ") && !strings.HasPrefix(l, "verification time ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "; ")
}

// query returns the ids of the device programs attached directly to the
// cgroup cg, and the flags they were attached with.
func query(cg int) ([]uint32, uint32, error) {
	ids := make([]uint32, 8)
	for {
		attr := progQueryAttr{
			targetFd:   uint32(cg),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    unsafe.Pointer(&ids[0]),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		switch {
		case errors.Is(err, unix.ENOSPC) && int(attr.progCnt) > len(ids):
			// More programs than room; progCnt says how many.
			ids = make([]uint32, attr.progCnt)
			continue
		case err != nil:
			return nil, 0, fmt.Errorf("bpf prog query: %w", err)
		}
		return ids[:attr.progCnt], attr.attachFlags, nil
	}
}

// detachIDs detaches the programs with the given ids from cg, going on
// past failures so as many as possible are gone.
func detachIDs(cg int, ids []uint32) error {
	var errs []error
	for _, id := range ids {
		if err := detachID(cg, id); err != nil {
			errs = append(errs, fmt.Errorf("detach program %d: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func detachID(cg int, id uint32) error {
	// BPF_PROG_DETACH of a multi-attached program names it by fd, and
	// an id becomes an fd only through BPF_PROG_GET_FD_BY_ID.
	get := getFdByIDAttr{progID: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
	if errors.Is(err, unix.ENOENT) {
		// Detached and freed since the query.
		return nil
	}
	if err != nil {
		return fmt.Errorf("bpf prog get fd by id: %w", err)
	}
	defer unix.Close(fd)
	attr := progAttachAttr{
		targetFd:    uint32(cg),
		attachBpfFd: uint32(fd),
		attachType:  unix.BPF_CGROUP_DEVICE,
	}
	_, err = bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if errors.Is(err, unix.ENOENT) {
		// Detached by someone else since the query.
		return nil
	}
	if err != nil {
		return fmt.Errorf("bpf prog detach: %w", err)
	}
	return nil
}
