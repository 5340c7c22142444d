package shim

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimMemory gives back what starting the container took and running it
// does not need: the garbage of the start (a GC, then the free heap pages
// returned to the kernel), and the shim's own read-only file pages (code,
// rodata). The kernel maps a binary's pages around each one touched
// (fault-around), so a shim that has run its startup code has most of its
// 3.5 MB binary in its RSS; most of it is never run again. Dropping the
// mappings (MADV_DONTNEED) loses nothing: the pages stay in the page cache,
// shared, and a page touched again is mapped again at the cost of a minor
// fault. Only private, read-only mappings of the executable with no
// anonymous (copy-on-write) page are dropped: for them, "drop" and "map
// again from the file" give the same bytes. The heap is freed after
// smaps is read, so that reading it leaves no garbage behind, and the
// mappings dropped last, so that the GC's code is not mapped again.
func trimMemory() {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		debug.FreeOSMemory()
		return
	}
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		debug.FreeOSMemory()
		return
	}
	type mapping struct {
		start, end uintptr
		ok         bool
	}
	var cur mapping
	var drop []mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") && strings.Contains(f[0], "-") {
			// A mapping: "start-end perms offset dev inode path".
			if cur.ok {
				drop = append(drop, cur)
			}
			cur = mapping{}
			lo, hi, _ := strings.Cut(f[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil || len(f) < 6 {
				continue
			}
			inode, _ := strconv.ParseUint(f[4], 10, 64)
			cur = mapping{start: uintptr(start), end: uintptr(end),
				ok: inode == st.Ino && f[1][1] == '-' && f[1][3] == 'p'}
			continue
		}
		if f[0] == "Anonymous:" && f[1] != "0" {
			cur.ok = false
		}
	}
	if cur.ok {
		drop = append(drop, cur)
	}
	data, sc = nil, nil
	debug.FreeOSMemory()
	for _, m := range drop {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
	}
}
