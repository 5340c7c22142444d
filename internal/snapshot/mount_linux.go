package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Mount is one mount(2) to make: what a snapshotter returns for a snapshot.
// It is plain data, so it can cross a process boundary (to the runtime, or
// to a VM guest agent) and be mounted there.
type Mount struct {
	Type    string   // "overlay", "bind"
	Source  string   // a directory for bind, "overlay" for overlay
	Options []string // mount flags by name ("ro", "rbind") and fs data ("lowerdir=...")
}

// flagOptions maps option names to mount flags; clear means the option
// turns the flag off.
var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":       {false, unix.MS_RDONLY},
	"rw":       {true, unix.MS_RDONLY},
	"bind":     {false, unix.MS_BIND},
	"rbind":    {false, unix.MS_BIND | unix.MS_REC},
	"nosuid":   {false, unix.MS_NOSUID},
	"suid":     {true, unix.MS_NOSUID},
	"nodev":    {false, unix.MS_NODEV},
	"dev":      {true, unix.MS_NODEV},
	"noexec":   {false, unix.MS_NOEXEC},
	"exec":     {true, unix.MS_NOEXEC},
	"noatime":  {false, unix.MS_NOATIME},
	"relatime": {false, unix.MS_RELATIME},
}

// parseOptions splits options into mount flags and the fs data string.
func parseOptions(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range opts {
		if f, ok := flagOptions[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

// Mount mounts m on target, a directory.
func (m Mount) Mount(target string) error {
	flags, data := parseOptions(m.Options)
	typ := m.Type
	if flags&unix.MS_BIND != 0 {
		typ = ""
	}
	var err error
	if typ == "overlay" && len(data) >= os.Getpagesize() {
		err = mountOverlayRelative(target, flags, data)
	} else {
		err = unix.Mount(m.Source, target, typ, flags&^unix.MS_RDONLY|bindRO(flags), data)
	}
	if err != nil {
		return fmt.Errorf("mount %s %q on %q: %w", m.Type, m.Source, target, err)
	}
	// A bind mount ignores MS_RDONLY on creation: make it read-only with a
	// remount of the new mount point.
	if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|flags&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC), ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %q read-only: %w", target, err)
		}
	}
	return nil
}

// bindRO keeps MS_RDONLY for non-bind mounts, where mount(2) honours it.
func bindRO(flags uintptr) uintptr {
	if flags&unix.MS_BIND != 0 {
		return 0
	}
	return flags & unix.MS_RDONLY
}

// mountOverlayRelative mounts an overlay whose data (the lowerdir list) is
// too long for mount(2), which copies at most one page of data. The layer
// paths are rewritten relative to their longest common directory, and the
// mount(2) runs with that directory as the working directory, on a thread
// that first unshares its fs struct (cwd, root, umask) with CLONE_FS so the
// chdir does not move the rest of the process. The thread stays locked and
// exits with its goroutine: Go must not reuse a thread with its own cwd.
//
// Why this and not the new mount API: fsconfig(FSCONFIG_SET_STRING) copies
// at most 256 bytes of a value, so a long "lowerdir" fails there too, and
// "lowerdir+" (one call per layer) needs Linux 6.8 while Debian 12 runs 6.1.
// With snapshot ids as directory names a layer costs about 8 bytes
// ("1234/fs:"), so 500 layers — overlayfs's own limit — fit in a page.
func mountOverlayRelative(target string, flags uintptr, data string) error {
	target, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	opts := strings.Split(data, ",")
	var paths []string
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			paths = append(paths, strings.Split(v, ":")...)
		case "upperdir", "workdir":
			paths = append(paths, v)
		}
	}
	dir := commonDir(paths)
	if dir == "" || dir == "/" {
		return errdefs.Invalid(fmt.Sprintf("overlay data of %d bytes is over a page and its layers share no directory", len(data)))
	}
	rel := func(p string) string { return strings.TrimPrefix(p, dir+"/") }
	for i, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			ls := strings.Split(v, ":")
			for j := range ls {
				ls[j] = rel(ls[j])
			}
			opts[i] = k + "=" + strings.Join(ls, ":")
		case "upperdir", "workdir":
			opts[i] = k + "=" + rel(v)
		}
	}
	data = strings.Join(opts, ",")
	if len(data) >= os.Getpagesize() {
		return errdefs.Invalid(fmt.Sprintf("overlay data of %d bytes is over a page even with paths relative to %q", len(data), dir))
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %q: %w", dir, err)
			return
		}
		errc <- unix.Mount("overlay", target, "overlay", flags, data)
	}()
	return <-errc
}

// commonDir returns the longest directory that contains every path, or ""
// when a path is relative.
func commonDir(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	common := filepath.Dir(paths[0])
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return ""
		}
		for common != "/" && !strings.HasPrefix(p, common+"/") {
			common = filepath.Dir(common)
		}
	}
	return common
}

// MountAll mounts ms on target in order (later mounts stack on earlier
// ones). On error, what was mounted is unmounted again.
func MountAll(ms []Mount, target string) error {
	for i, m := range ms {
		if err := m.Mount(target); err != nil {
			for range i {
				unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// UnmountAll unmounts every mount stacked on target. A target that is not a
// mount point (or does not exist) is not an error, so it is safe in
// cleanups. A busy mount is detached lazily rather than left behind.
func UnmountAll(target string) error {
	for i := 0; ; i++ {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // nothing (more) mounted there
		case errors.Is(err, unix.EBUSY) && i < 50:
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %q: %w", target, err)
			}
		default:
			return fmt.Errorf("unmount %q: %w", target, err)
		}
	}
}
