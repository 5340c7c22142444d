package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// tarOf builds a tar from headers; a regular file's body is its Linkname
// field (moved out before writing), for brevity.
func tarOf(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body, h.Linkname = h.Linkname, ""
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, body string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Linkname: body, ModTime: mtime}
}
func dir(name string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: mtime}
}
func symlink(name, target string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, ModTime: mtime}
}
func hardlink(name, target string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: mtime}
}

// snapshot records every file under dir except the subtree skip, without
// following symlinks, so a test can tell that nothing changed there.
func snapshot(t testing.TB, dir, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		out[p] = fmt.Sprintf("mode=%o size=%d ino=%d nlink=%d uid=%d mtime=%d", st.Mode, st.Size, st.Ino, st.Nlink, st.Uid, st.Mtim.Nano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(before, after map[string]string) []string {
	var d []string
	for p, v := range after {
		if before[p] != v {
			d = append(d, fmt.Sprintf("%s: %q → %q", p, before[p], v))
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			d = append(d, p+": removed")
		}
	}
	slices.Sort(d)
	return d
}

// hostile is a container root at base/root with a destination dst, the
// container's own symlinks out of it, and a file beside the root.
func hostile(t testing.TB) (base, root string) {
	base = t.(interface{ TempDir() string }).TempDir()
	root = filepath.Join(base, "root")
	for _, d := range []string{"root/dst/sub", "root/etc"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, body := range map[string]string{"outside": "host", "root/etc/shadow": "container shadow", "root/dst/keep": "k"} {
		if err := os.WriteFile(filepath.Join(base, p), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range map[string]string{
		"root/evil": "/", "root/evil2": "../../..", "root/dst/up": "../..", "root/dst/abs": "/",
		"root/dst/etclink": "/etc", "root/dst/in": "sub",
	} {
		if err := os.Symlink(target, filepath.Join(base, p)); err != nil {
			t.Fatal(err)
		}
	}
	return base, root
}

// hostPath is a name that must never appear on the host.
var hostPath = fmt.Sprintf("/etc/capsa-archive-test-%d", os.Getpid())

func TestCopyInHostile(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	hostName := strings.TrimPrefix(hostPath, "/")
	tests := []struct {
		name    string
		dest    string
		tar     []byte
		wantErr error  // nil: succeeds
		inside  string // a file that must exist afterwards, relative to root
		skip    string // the subtree allowed to change, relative to root
	}{
		{name: "dotdot name", dest: "/dst", tar: tarOf(t, file("../x", "x")), wantErr: errdefs.ErrInvalid},
		{name: "dotdot inside name", dest: "/dst", tar: tarOf(t, file("a/../../x", "x")), wantErr: errdefs.ErrInvalid},
		{name: "absolute name", dest: "/dst", tar: tarOf(t, file(hostPath, "x")), inside: "dst/" + hostName},
		{name: "dotdot after root", dest: "/dst", tar: tarOf(t, file("/../x", "x")), inside: "dst/x"},
		{name: "hardlink to /etc/shadow", dest: "/dst", tar: tarOf(t, hardlink("h", "/etc/shadow")), wantErr: unix.ENOENT},
		{name: "hardlink climbing out", dest: "/dst", tar: tarOf(t, hardlink("h", "../../etc/shadow")), wantErr: errdefs.ErrInvalid},
		{name: "hardlink through container symlink", dest: "/dst", tar: tarOf(t, hardlink("h", "etclink/shadow")), wantErr: errdefs.ErrInvalid},
		{name: "symlink to / then through it", dest: "/dst", tar: tarOf(t, symlink("l", "/"), file("l/"+hostName, "x")), wantErr: errdefs.ErrInvalid},
		{name: "symlink up then through it", dest: "/dst", tar: tarOf(t, symlink("l", "../../.."), file("l/x", "x")), wantErr: errdefs.ErrInvalid},
		{name: "symlink up then dir through it", dest: "/dst", tar: tarOf(t, symlink("l", "../../.."), dir("l/d/")), wantErr: errdefs.ErrInvalid},
		{name: "container symlink up as parent", dest: "/dst", tar: tarOf(t, file("up/x", "x")), wantErr: errdefs.ErrInvalid},
		{name: "container symlink to / as parent", dest: "/dst", tar: tarOf(t, file("abs/"+hostName, "x")), wantErr: errdefs.ErrInvalid},
		{name: "container symlink inside as parent", dest: "/dst", tar: tarOf(t, file("in/x", "x")), inside: "dst/sub/x"},
		{name: "entry replaces a container symlink", dest: "/dst", tar: tarOf(t, file("etclink", "x")), inside: "dst/etclink"},
		// The destination itself is resolved inside the root.
		{name: "dest symlink to /", dest: "/evil", tar: tarOf(t, file(hostName, "x")), inside: hostName, skip: "etc"},
		{name: "dest symlink up", dest: "/evil2/dst", tar: tarOf(t, file("y", "y")), inside: "dst/y"},
		{name: "dest symlink up, dotdot", dest: "/../../../dst", tar: tarOf(t, file("y", "y")), inside: "dst/y"},
		// A hard link to the container's own shadow is fine: it is inside.
		{name: "hardlink to container shadow", dest: "/", tar: tarOf(t, hardlink("h", "/etc/shadow")), inside: "h", skip: "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, root := hostile(t)
			skip := filepath.Join(root, "dst")
			if tt.skip != "" {
				skip = filepath.Join(root, tt.skip)
			}
			before := snapshot(t, base, skip)
			err := CopyIn(ctx, root, tt.dest, bytes.NewReader(tt.tar), CopyInOptions{})
			if tt.wantErr == nil && err != nil {
				t.Fatalf("CopyIn: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("CopyIn = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				t.Logf("error: %v", err) // for the reader: is it clear?
			}
			if d := diffSnapshots(before, snapshot(t, base, skip)); len(d) > 0 {
				t.Errorf("changed outside the destination:\n%s", strings.Join(d, "\n"))
			}
			if _, err := os.Lstat(hostPath); err == nil {
				os.Remove(hostPath)
				t.Fatalf("%s appeared on the host", hostPath)
			}
			if tt.inside != "" {
				if _, err := os.Lstat(filepath.Join(root, tt.inside)); err != nil {
					t.Errorf("want %s inside the root: %v", tt.inside, err)
				}
			}
		})
	}
}

// The hard link to "/etc/shadow" with the root as destination is the
// container's shadow, never the host's.
func TestCopyInHardlinkIsContainers(t *testing.T) {
	needRoot(t)
	_, root := hostile(t)
	if err := CopyIn(context.Background(), root, "/", bytes.NewReader(tarOf(t, hardlink("h", "/etc/shadow"))), CopyInOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "h"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "container shadow" {
		t.Errorf("h = %q, want the container's shadow", b)
	}
}

func TestCopyInErrors(t *testing.T) {
	_, root := hostile(t)
	ctx := context.Background()
	tests := []struct {
		name string
		dest string
		tar  []byte
		opts CopyInOptions
		want error
	}{
		{"missing destination", "/nope", tarOf(t, file("x", "")), CopyInOptions{}, errdefs.ErrNotFound},
		{"destination is a file", "/dst/keep", tarOf(t, file("x", "")), CopyInOptions{}, errdefs.ErrInvalid},
		{"dir over file", "/dst", tarOf(t, dir("keep/")), CopyInOptions{NoOverwriteDirNonDir: true}, errdefs.ErrInvalid},
		{"file over dir", "/dst", tarOf(t, file("sub", "")), CopyInOptions{NoOverwriteDirNonDir: true}, errdefs.ErrInvalid},
		{"not a tar", "/dst", []byte(strings.Repeat("garbage!", 200)), CopyInOptions{}, errdefs.ErrInvalid},
		{"too many entries", "/dst", tarOf(t, file("a", ""), file("b", ""), file("c", "")), CopyInOptions{Limits: Limits{MaxEntries: 2}}, errdefs.ErrInvalid},
		{"name too long", "/dst", tarOf(t, file(strings.Repeat("a/", 40)+"x", "")), CopyInOptions{Limits: Limits{MaxPath: 64}}, errdefs.ErrInvalid},
		{"too many bytes", "/dst", tarOf(t, file("a", "12345"), file("b", "12345")), CopyInOptions{Limits: Limits{MaxBytes: 8}}, errdefs.ErrInvalid},
		{"overlay xattr", "/dst", tarOf(t, &tar.Header{Typeflag: tar.TypeDir, Name: "o/", Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}}), CopyInOptions{}, errdefs.ErrInvalid},
		{"negative owner", "/dst", tarOf(t, file("x", "")), CopyInOptions{UID: -1}, errdefs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CopyIn(ctx, root, tt.dest, bytes.NewReader(tt.tar), tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CopyIn = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.dest) && !strings.Contains(err.Error(), "-1") {
				t.Errorf("error %q does not name the destination", err)
			}
		})
	}
}

func TestCopyInReadOnly(t *testing.T) {
	needRoot(t)
	_, root := hostile(t)
	ro := filepath.Join(root, "dst", "sub")
	if err := unix.Mount(ro, ro, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
	if err := unix.Mount("", ro, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	err := CopyIn(context.Background(), root, "/dst/sub", bytes.NewReader(tarOf(t, file("x", ""))), CopyInOptions{})
	if !errors.Is(err, errdefs.ErrPermission) || errdefs.HTTPStatus(err) != 403 {
		t.Fatalf("CopyIn into a read-only mount = %v, want permission denied (403)", err)
	}
}

func TestCopyInReplaces(t *testing.T) {
	_, root := hostile(t)
	// A directory merges into one; a file replaces a directory; a
	// directory replaces a file.
	tr := tarOf(t, dir("sub/"), file("sub/new", "n"), file("keep", "new body"), dir("f/"), file("sub", "now a file"))
	os.WriteFile(filepath.Join(root, "dst", "f"), []byte("file"), 0o644)
	if err := CopyIn(context.Background(), root, "/dst", bytes.NewReader(tr), CopyInOptions{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"keep": "new body", "sub": "now a file"} {
		if b, err := os.ReadFile(filepath.Join(root, "dst", p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if fi, err := os.Lstat(filepath.Join(root, "dst", "f")); err != nil || !fi.IsDir() {
		t.Errorf("f: %v, %v; want a directory", fi, err)
	}
}

func TestCopyInGzipAndOwner(t *testing.T) {
	needRoot(t)
	_, root := hostile(t)
	h := file("owned", "x")
	h.Uid, h.Gid = 1234, 5678
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarOf(t, h, dir("d/"), file("d/implied/deep", "y")))
	zw.Close()
	for _, tt := range []struct {
		opts     CopyInOptions
		uid, gid uint32
	}{
		{CopyInOptions{}, 0, 0},
		{CopyInOptions{UID: 100000, GID: 100000}, 100000, 100000},
		{CopyInOptions{CopyUIDGID: true}, 1234, 5678},
	} {
		os.RemoveAll(filepath.Join(root, "dst", "d")) // so that its parents are implied again
		if err := CopyIn(context.Background(), root, "/dst", bytes.NewReader(gz.Bytes()), tt.opts); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, "dst", "owned"), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != tt.uid || st.Gid != tt.gid {
			t.Errorf("%+v: owner %d:%d, want %d:%d", tt.opts, st.Uid, st.Gid, tt.uid, tt.gid)
		}
		if err := unix.Lstat(filepath.Join(root, "dst", "d", "implied"), &st); err != nil || st.Uid != uint32(tt.opts.UID) {
			t.Errorf("%+v: implied parent owner %d, %v", tt.opts, st.Uid, err)
		}
	}
}

// attrs describes a file for round-trip comparison.
func attrs(t *testing.T, p string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprintf("mode=%o uid=%d gid=%d mtime=%d nlink=%d", st.Mode, st.Uid, st.Gid, st.Mtim.Sec, st.Nlink)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		b, _ := os.ReadFile(p)
		s += " data=" + string(b)
	case unix.S_IFLNK:
		l, _ := os.Readlink(p)
		s += " link=" + l
	case unix.S_IFDIR:
		s = strings.Replace(s, fmt.Sprintf("nlink=%d", st.Nlink), "", 1)
	}
	if v := make([]byte, 64); st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if n, err := unix.Lgetxattr(p, "user.capsa", v); err == nil {
			s += " xattr=" + string(v[:n])
		}
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	needRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	makeTree(t, src, sampleTree)
	if err := os.Link(filepath.Join(src, "dir/a"), filepath.Join(src, "dir/sub/hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(src, "dir/sub/b"), 1000, 1001); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(src, "dir/sub/b"), "user.capsa", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	for _, p := range []string{"dir/sub", "dir/sub/b", "dir/sub/hard", "dir"} {
		unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(src, p), ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	ctx := context.Background()
	for _, tt := range []struct{ from, to, prefix string }{
		{"/dir", "/", "dir"},
		{"/dir/.", "/", ""},
		{"/linkdir/", "/", "linkdir"},
	} {
		t.Run(tt.from, func(t *testing.T) {
			dst := filepath.Join(dst, strings.ReplaceAll(tt.from, "/", "_"))
			os.Mkdir(dst, 0o755)
			rc, _, err := CopyOut(ctx, src, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if err := CopyIn(ctx, dst, tt.to, rc, CopyInOptions{CopyUIDGID: true}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"a", "fifo", "rel", "sub", "sub/b", "sub/hard"} {
				got, want := attrs(t, filepath.Join(dst, tt.prefix, p)), attrs(t, filepath.Join(src, "dir", p))
				if got != want {
					t.Errorf("%s:\n got %s\nwant %s", p, got, want)
				}
			}
			if tt.prefix != "" {
				if got, want := attrs(t, filepath.Join(dst, tt.prefix)), attrs(t, filepath.Join(src, "dir")); got != want {
					t.Errorf("top:\n got %s\nwant %s", got, want)
				}
			}
		})
	}
}

// FuzzCopyIn extracts arbitrary archives into a destination inside a root
// full of symlinks that lead out, and fails if anything outside the
// destination changed.
func FuzzCopyIn(f *testing.F) {
	seeds := [][]*tar.Header{
		{file("a", "x"), dir("d/"), file("d/b", "y")},
		{file("../x", "x")},
		{file("/etc/x", "x")},
		{hardlink("h", "/etc/shadow")},
		{hardlink("h", "../etc/shadow")},
		{symlink("l", "/"), file("l/x", "x")},
		{symlink("l", "../../.."), file("l/x", "x")},
		{symlink("l", ".."), hardlink("l/h", "keep")},
		{file("up/x", "x")},
		{file("abs/x", "x")},
		{file("etclink", "x"), file("etclink/x", "x")},
		{dir("in/"), file("in/x", "x"), symlink("in", "/etc"), file("in/y", "y")},
		{&tar.Header{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3, Mode: 0o666}},
		{&tar.Header{Typeflag: tar.TypeFifo, Name: "up/../fifo", Mode: 0o666}},
		{file("x", "1"), hardlink("y", "x"), file("x", "2")},
	}
	for _, s := range seeds {
		f.Add(tarOf(f, s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if os.Getuid() != 0 {
			t.Skip("needs root")
		}
		base, root := hostile(t)
		skip := filepath.Join(root, "dst")
		before := snapshot(t, base, skip)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		CopyIn(ctx, root, "/dst", bytes.NewReader(data), CopyInOptions{CopyUIDGID: true, Limits: Limits{MaxEntries: 256, MaxBytes: 1 << 20}})
		if d := diffSnapshots(before, snapshot(t, base, skip)); len(d) > 0 {
			t.Errorf("changed outside the destination:\n%s", strings.Join(d, "\n"))
		}
		if _, err := os.Lstat("/etc/x"); err == nil {
			t.Fatal("/etc/x appeared on the host")
		}
	})
}
