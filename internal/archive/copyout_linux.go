package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CopyOut returns a tar stream of path in the container whose root
// filesystem is mounted at root, and path's stat, as docker's
// GET /containers/{id}/archive does: the top entry is named after the
// path's base name ("/" for the root, "." for "dir/.", whose entries are
// "./a", ... — docker cp's "copy the contents"). A symlink is archived as
// a symlink, except that "link/" archives the directory it points to
// (still named "link"); nothing below the top is ever followed.
//
// The stream is produced while it is read; the caller must Close it,
// which also releases the open files. A file that shrinks while it is
// read is padded with zeros to its header's size, so the archive stays
// well formed.
func CopyOut(ctx context.Context, root, p string) (io.ReadCloser, PathStat, error) {
	t, err := parseTarget(p)
	if err != nil {
		return nil, PathStat{}, err
	}
	s, err := openScope(root)
	if err != nil {
		return nil, PathStat{}, err
	}
	fd, st, err := s.lookup(t)
	if err != nil {
		s.close()
		return nil, PathStat{}, err
	}
	ps, err := s.stat(t, &st)
	s.close()
	if err != nil {
		unix.Close(fd)
		return nil, PathStat{}, err
	}
	// docker rebases the entries onto the requested name; for the root,
	// onto "" so that they read "/", "/bin", ...
	top := t.name()
	if t.abs == "/" {
		top = ""
	}
	rc := produce(func(w *tarWriter) error {
		defer unix.Close(fd)
		return w.tree(ctx, fd, &st, top, true)
	})
	return rc, ps, nil
}

// Export returns a tar stream of the whole tree mounted at root, as
// docker export: entries are named relative to the root ("bin/",
// "bin/sh") and the root itself has no entry.
func Export(ctx context.Context, root string) (io.ReadCloser, error) {
	fd, err := openDir(root)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("export %q: %w", root, err)
	}
	return produce(func(w *tarWriter) error {
		defer unix.Close(fd)
		return w.tree(ctx, fd, &st, "", false)
	}), nil
}

// produce runs write in a goroutine that feeds the returned reader.
func produce(write func(w *tarWriter) error) io.ReadCloser {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := &tarWriter{tw: tar.NewWriter(pw), links: map[fileID]string{}}
		err := write(w)
		if err == nil {
			err = w.tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return &pipeReader{PipeReader: pr, done: done}
}

type pipeReader struct {
	*io.PipeReader
	done chan struct{}
}

// Close stops the producer and waits for it to close its files.
func (r *pipeReader) Close() error {
	r.PipeReader.Close()
	<-r.done
	return nil
}

type fileID struct{ dev, ino uint64 }

type tarWriter struct {
	tw *tar.Writer
	// links maps a multiply linked file to the first name written for it,
	// so later names become hard link entries.
	links map[fileID]string
}

// entryName joins a top name and a path below it the way docker's rebase
// does: ("", "bin") → "/bin", (".", "a") → "./a", ("d", "") → "d".
func entryName(top, sub string) string {
	switch {
	case sub == "":
		return top
	case top == "" && sub != "":
		return "/" + sub
	}
	return top + "/" + sub
}

// tree writes the file fd (O_PATH, stat st) named name and, if it is a
// directory, everything below it. With self false the directory's own
// entry is left out (export).
func (w *tarWriter) tree(ctx context.Context, fd int, st *unix.Stat_t, name string, self bool) error {
	if self {
		if err := w.add(fd, st, name); err != nil {
			return err
		}
	}
	if !isDir(st) {
		return nil
	}
	return w.dir(ctx, fd, name, self)
}

// dir writes the entries below the directory dirFd, whose entry is named
// name.
func (w *tarWriter) dir(ctx context.Context, dirFd int, name string, self bool) error {
	names, err := readDirNames(dirFd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", name, err)
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		// O_PATH|O_NOFOLLOW pins the inode without opening it (a fifo
		// or a device is never opened) and never follows a symlink the
		// container may have just put there.
		fd, err := unix.Openat(dirFd, n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue // removed since we listed the directory
		}
		if err != nil {
			return fmt.Errorf("open %q: %w", entryName(name, n), err)
		}
		child := n
		if self || name != "" {
			child = entryName(name, n)
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		if err == nil {
			err = w.tree(ctx, fd, &st, child, true)
		}
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// add writes one entry for the file fd (O_PATH) with stat st.
func (w *tarWriter) add(fd int, st *unix.Stat_t, name string) error {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0), // whole seconds, as docker
		Format:  tar.FormatPAX,
	}
	var file int = -1 // a real fd for data and xattrs
	defer func() {
		if file >= 0 {
			unix.Close(file)
		}
	}()
	var err error
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
		file, err = reopen(fd, unix.O_RDONLY|unix.O_DIRECTORY)
	case unix.S_IFREG:
		id := fileID{dev: st.Dev, ino: st.Ino}
		if first, ok := w.links[id]; ok && st.Nlink > 1 {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			return w.writeHeader(hdr)
		}
		if st.Nlink > 1 {
			w.links[id] = name
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		file, err = reopen(fd, unix.O_RDONLY|unix.O_NOCTTY)
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		buf := make([]byte, unix.PathMax)
		n, rerr := unix.Readlinkat(fd, "", buf)
		if rerr != nil {
			return fmt.Errorf("read link %q: %w", name, rerr)
		}
		hdr.Linkname = string(buf[:n])
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets have no tar form; docker skips them too
	}
	if err != nil {
		return fmt.Errorf("open %q: %w", name, err)
	}
	if file >= 0 {
		if err := readXattrs(file, hdr); err != nil {
			return fmt.Errorf("read xattrs of %q: %w", name, err)
		}
	}
	if err := w.writeHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f := os.NewFile(uintptr(file), name)
	file = -1 // f owns it now
	defer f.Close()
	n, err := io.CopyN(w.tw, f, hdr.Size)
	if errors.Is(err, io.EOF) {
		// The file shrank while we read it: keep the archive valid.
		_, err = io.CopyN(w.tw, zeros{}, hdr.Size-n)
	}
	if err != nil {
		return fmt.Errorf("read %q: %w", name, err)
	}
	return nil
}

func (w *tarWriter) writeHeader(hdr *tar.Header) error {
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write tar entry %q: %w", hdr.Name, err)
	}
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// skipXattr reports the attributes an archive leaves out: overlayfs's own
// metadata (never meaningful elsewhere, and dangerous to restore) and
// SELinux labels, which belong to the destination's policy.
func skipXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") ||
		name == "security.selinux"
}

// readXattrs records the extended attributes of the open file fd as PAX
// SCHILY.xattr records.
func readXattrs(fd int, hdr *tar.Header) error {
	sz, err := unix.Flistxattr(fd, nil)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || sz == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	buf := make([]byte, sz)
	sz, err = unix.Flistxattr(fd, buf)
	if errors.Is(err, unix.ERANGE) {
		return nil // grew meanwhile; a copy without them beats a failed one
	}
	if err != nil {
		return err
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" || skipXattr(name) {
			continue
		}
		vsz, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			continue // removed meanwhile, or not readable
		}
		val := make([]byte, vsz)
		vsz, err = unix.Fgetxattr(fd, name, val)
		if err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(val[:vsz])
	}
	return nil
}
