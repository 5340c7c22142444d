package rootfs

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// fnode is a file of the fake's in-memory tree.
type fnode struct {
	mode uint32 // S_IF* type bits
	link string // symlink target
	rdev uint64
}

// fake is a recording Syscalls: an in-memory file tree good enough for
// path resolution, and a log of every operation that changes something
// (opens, stats and closes are not logged). Paths in the log are host
// paths, with /proc/self/fd/N replaced by what fd N holds.
type fake struct {
	files  map[string]*fnode
	fds    map[int]string
	next   int
	root   string // the process's root, changed by pivot_root/chroot
	cwd    string
	ops    []string
	files0 map[string]string // ReadFile contents
	statfs map[string]int64  // Statfs flags by host path
	// fail returns an error for an operation (as logged) to inject it;
	// a failed operation is logged with " = error".
	fail func(op string) error
}

func newFake() *fake {
	f := &fake{
		files:  map[string]*fnode{"/": {mode: unix.S_IFDIR}},
		fds:    map[int]string{},
		next:   10,
		root:   "/",
		cwd:    "/",
		files0: map[string]string{},
		statfs: map[string]int64{},
	}
	return f
}

// add makes entries: "d:/a/b", "f:/a/file", "l:/a/link=target", "c:/dev/null=1:3".
func (f *fake) add(specs ...string) *fake {
	for _, s := range specs {
		kind, rest := s[:1], s[2:]
		p, arg, _ := strings.Cut(rest, "=")
		f.mkparents(p)
		switch kind {
		case "d":
			f.files[p] = &fnode{mode: unix.S_IFDIR}
		case "f":
			f.files[p] = &fnode{mode: unix.S_IFREG}
		case "l":
			f.files[p] = &fnode{mode: unix.S_IFLNK, link: arg}
		case "c":
			maj, min, _ := strings.Cut(arg, ":")
			a, _ := strconv.Atoi(maj)
			b, _ := strconv.Atoi(min)
			f.files[p] = &fnode{mode: unix.S_IFCHR, rdev: unix.Mkdev(uint32(a), uint32(b))}
		}
	}
	return f
}

func (f *fake) mkparents(p string) {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if f.files[d] == nil {
			f.files[d] = &fnode{mode: unix.S_IFDIR}
		}
	}
}

func (f *fake) log(op string) error {
	var err error
	if f.fail != nil {
		err = f.fail(op)
	}
	if err != nil {
		op += " = " + err.Error()
	}
	f.ops = append(f.ops, op)
	return err
}

// host turns a path as the process sees it into a host path.
func (f *fake) host(p string) string {
	if strings.HasPrefix(p, "/proc/self/fd/") {
		n, _ := strconv.Atoi(strings.TrimPrefix(p, "/proc/self/fd/"))
		if h, ok := f.fds[n]; ok {
			return h
		}
	}
	if !path.IsAbs(p) {
		return path.Join(f.cwd, p)
	}
	return path.Join(f.root, p)
}

func (f *fake) newfd(p string) int {
	f.next++
	f.fds[f.next] = p
	return f.next
}

// resolve walks p from base like openat2 with the resolve flags; anchor is
// where absolute symlinks and ".." stop. It returns the host path; for a
// missing last component it returns it with ENOENT.
func (f *fake) resolve(base, anchor, p string, resolve uint64, followLast bool) (string, error) {
	comps := strings.Split(p, "/")
	if path.IsAbs(p) {
		if resolve&unix.RESOLVE_BENEATH != 0 {
			return "", unix.EXDEV
		}
		base = anchor
	}
	cur := base
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			if cur == anchor || (resolve&unix.RESOLVE_BENEATH != 0 && cur == base) {
				if resolve&unix.RESOLVE_BENEATH != 0 {
					return "", unix.EXDEV
				}
				continue
			}
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		n := f.files[next]
		last := len(comps) == 0 || strings.Trim(strings.Join(comps, "/"), "/.") == ""
		if n == nil {
			if last {
				return next, unix.ENOENT
			}
			return "", unix.ENOENT
		}
		if n.mode == unix.S_IFLNK && (!last || followLast) {
			if resolve&unix.RESOLVE_NO_SYMLINKS != 0 {
				return "", unix.ELOOP
			}
			if links++; links > 40 {
				return "", unix.ELOOP
			}
			t := n.link
			if path.IsAbs(t) {
				if resolve&unix.RESOLVE_BENEATH != 0 {
					return "", unix.EXDEV
				}
				cur = anchor
			}
			comps = append(strings.Split(t, "/"), comps...)
			continue
		}
		if !last && n.mode != unix.S_IFDIR {
			return "", unix.ENOTDIR
		}
		cur = next
	}
	return cur, nil
}

func (f *fake) dirOf(dirfd int) string {
	if dirfd == unix.AT_FDCWD {
		return f.cwd
	}
	return f.fds[dirfd]
}

func (f *fake) Openat2(dirfd int, p string, how *unix.OpenHow) (int, error) {
	base := f.dirOf(dirfd)
	anchor := f.root
	if how.Resolve&unix.RESOLVE_IN_ROOT != 0 {
		anchor = base
	}
	follow := how.Flags&unix.O_NOFOLLOW == 0
	h, err := f.resolve(base, anchor, p, how.Resolve, follow)
	if err == unix.ENOENT && h != "" && how.Flags&unix.O_CREAT != 0 {
		if err := f.log(fmt.Sprintf("create %s", h)); err != nil {
			return -1, err
		}
		f.files[h] = &fnode{mode: unix.S_IFREG}
		return f.newfd(h), nil
	}
	if err != nil {
		return -1, err
	}
	n := f.files[h]
	if how.Flags&unix.O_CREAT != 0 && how.Flags&unix.O_EXCL != 0 {
		return -1, unix.EEXIST
	}
	if n.mode == unix.S_IFLNK && how.Flags&unix.O_PATH == 0 {
		return -1, unix.ELOOP
	}
	if how.Flags&unix.O_DIRECTORY != 0 && n.mode != unix.S_IFDIR {
		return -1, unix.ENOTDIR
	}
	return f.newfd(h), nil
}

func (f *fake) Close(fd int) error {
	if _, ok := f.fds[fd]; !ok {
		return unix.EBADF
	}
	delete(f.fds, fd)
	return nil
}

func (f *fake) Fstat(fd int, st *unix.Stat_t) error {
	h, ok := f.fds[fd]
	if !ok {
		return unix.EBADF
	}
	n := f.files[h]
	if n == nil {
		*st = unix.Stat_t{Mode: unix.S_IFDIR} // a detached tree or an fs fd
		return nil
	}
	*st = unix.Stat_t{Mode: n.mode, Rdev: n.rdev}
	return nil
}

func (f *fake) Statfs(p string, st *unix.Statfs_t) error {
	*st = unix.Statfs_t{Flags: f.statfs[f.host(p)]}
	return nil
}

func (f *fake) Mount(source, target, fstype string, flags uintptr, data string) error {
	src := source
	if src == "" {
		src = "none"
	}
	if strings.HasPrefix(source, "/proc/self/fd/") {
		src = f.host(source)
	}
	op := fmt.Sprintf("mount %s on %s", src, f.host(target))
	if fstype != "" {
		op += " type " + fstype
	}
	op += " " + flagString(flags)
	if data != "" {
		op += " " + data
	}
	return f.log(op)
}

func (f *fake) Unmount(target string, flags int) error {
	return f.log(fmt.Sprintf("umount %s %#x", f.host(target), flags))
}

func (f *fake) PivotRoot(newroot, putold string) error {
	if err := f.log(fmt.Sprintf("pivot_root %s %s", f.host(newroot), f.host(putold))); err != nil {
		return err
	}
	f.root = f.host(newroot)
	return nil
}

func (f *fake) Chdir(p string) error {
	if err := f.log("chdir " + f.host(p)); err != nil {
		return err
	}
	f.cwd = f.host(p)
	return nil
}

func (f *fake) Fchdir(fd int) error {
	if err := f.log("fchdir " + f.fds[fd]); err != nil {
		return err
	}
	f.cwd = f.fds[fd]
	return nil
}

func (f *fake) Chroot(p string) error {
	if err := f.log("chroot " + f.host(p)); err != nil {
		return err
	}
	f.root = f.host(p)
	return nil
}

func (f *fake) Mkdirat(dirfd int, p string, mode uint32) error {
	h := path.Join(f.dirOf(dirfd), p)
	if f.files[h] != nil {
		return unix.EEXIST
	}
	if err := f.log(fmt.Sprintf("mkdir %s %#o", h, mode)); err != nil {
		return err
	}
	f.files[h] = &fnode{mode: unix.S_IFDIR}
	return nil
}

func (f *fake) Mknodat(dirfd int, p string, mode uint32, dev uint64) error {
	h := path.Join(f.dirOf(dirfd), p)
	if f.files[h] != nil {
		return unix.EEXIST
	}
	t := map[uint32]string{unix.S_IFCHR: "c", unix.S_IFBLK: "b", unix.S_IFIFO: "p"}[mode&unix.S_IFMT]
	if err := f.log(fmt.Sprintf("mknod %s %s %d:%d %#o", h, t, unix.Major(dev), unix.Minor(dev), mode&0o7777)); err != nil {
		return err
	}
	f.files[h] = &fnode{mode: mode & unix.S_IFMT, rdev: dev}
	return nil
}

func (f *fake) Fchownat(dirfd int, p string, uid, gid int, flags int) error {
	return f.log(fmt.Sprintf("chown %s %d:%d", path.Join(f.dirOf(dirfd), p), uid, gid))
}

func (f *fake) Symlinkat(target string, dirfd int, p string) error {
	h := path.Join(f.dirOf(dirfd), p)
	if f.files[h] != nil {
		return unix.EEXIST
	}
	if err := f.log(fmt.Sprintf("symlink %s -> %s", h, target)); err != nil {
		return err
	}
	f.files[h] = &fnode{mode: unix.S_IFLNK, link: target}
	return nil
}

func (f *fake) Readlinkat(dirfd int, p string) (string, error) {
	n := f.files[path.Join(f.dirOf(dirfd), p)]
	if n == nil {
		return "", unix.ENOENT
	}
	if n.mode != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	return n.link, nil
}

func (f *fake) Unlinkat(dirfd int, p string, flags int) error {
	h := path.Join(f.dirOf(dirfd), p)
	if f.files[h] == nil {
		return unix.ENOENT
	}
	delete(f.files, h)
	return f.log("unlink " + h)
}

func (f *fake) Umask(mask int) int { return 0o22 }

func (f *fake) OpenTree(dirfd int, p string, flags uint) (int, error) {
	h := f.fds[dirfd]
	op := "open_tree " + h
	if flags&unix.AT_RECURSIVE != 0 {
		op += " recursive"
	}
	if err := f.log(op); err != nil {
		return -1, err
	}
	return f.newfd("tree:" + h), nil
}

func (f *fake) MoveMount(from int, fromPath string, to int, toPath string, flags int) error {
	return f.log(fmt.Sprintf("move_mount %s on %s", f.fds[from], f.fds[to]))
}

func (f *fake) MountSetattr(dirfd int, p string, flags uint, attr *unix.MountAttr) error {
	op := fmt.Sprintf("mount_setattr %s set=%#x clr=%#x", f.fds[dirfd], attr.Attr_set, attr.Attr_clr)
	if attr.Userns_fd != 0 {
		op += " userns=" + f.fds[int(attr.Userns_fd)]
	}
	if flags&unix.AT_RECURSIVE != 0 {
		op += " recursive"
	}
	return f.log(op)
}

func (f *fake) Fsopen(fsname string, flags int) (int, error) {
	return f.newfd("fs:" + fsname), nil
}

func (f *fake) FsconfigCreate(fd int) error { return nil }

func (f *fake) Fsmount(fd int, flags int, attrs int) (int, error) {
	if err := f.log(fmt.Sprintf("fsmount %s attrs=%#x", f.fds[fd], attrs)); err != nil {
		return -1, err
	}
	return f.newfd("mnt:" + f.fds[fd]), nil
}

func (f *fake) ReadFile(p string) ([]byte, error) {
	b, ok := f.files0[p]
	if !ok {
		return nil, unix.ENOENT
	}
	return []byte(b), nil
}

func (f *fake) UsernsFd(uids, gids []config.IDMap) (int, error) {
	name := fmt.Sprintf("userns(%v/%v)", uids, gids)
	if err := f.log("new " + name); err != nil {
		return -1, err
	}
	return f.newfd(name), nil
}
