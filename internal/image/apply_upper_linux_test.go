package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// TestApplyUpperWhiteouts: whiteouts and opaque markers are stored the
// way overlayfs stores them, and an entry after a whiteout of the same
// name replaces it.
func TestApplyUpperWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("whiteouts are 0/0 devices and opaque is a trusted xattr: run as root")
	}
	dir := t.TempDir()
	layer := mkTar(t,
		entry{name: "a/", typ: tar.TypeDir},
		entry{name: "a/.wh.x"},  // lower file x in a
		entry{name: ".wh.gone"}, // lower file at the top
		entry{name: "f", body: "made then whited out"},
		entry{name: ".wh.f"},                                 // replaces this layer's f
		entry{name: ".wh.g"}, entry{name: "g", body: "back"}, // file after whiteout
		entry{name: ".wh.h"}, entry{name: "h/", typ: tar.TypeDir}, // dir after whiteout
		entry{name: "o/", typ: tar.TypeDir},
		entry{name: "o/mine", body: "kept"},
		entry{name: "o/.wh..wh..opq"},   // after this layer's o/mine
		entry{name: "p/q/.wh..wh..opq"}, // parents not listed
		entry{name: ".wh..wh.plnk"},     // aufs bookkeeping: ignored
	)
	if err := ApplyUpper(context.Background(), dir, bytes.NewReader(layer), DefaultLimits); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/x", "gone", "f"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, p), &st); err != nil || !isWhiteout(&st) {
			t.Errorf("%s: mode %o rdev %d (%v), want a 0/0 character device", p, st.Mode, st.Rdev, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "g")); err != nil || string(b) != "back" {
		t.Errorf("g = %q, %v; want the file that replaced the whiteout", b, err)
	}
	for p, want := range map[string]string{"o": "y", "p/q": "y", "h": "y", "a": "", ".": ""} {
		if got := opaqueOf(filepath.Join(dir, p)); got != want {
			t.Errorf("%s: %s = %q, want %q", p, overlayOpaqueXattr, got, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "o/mine")); err != nil || string(b) != "kept" {
		t.Errorf("o/mine = %q, %v; the opaque marker must keep the same layer's files", b, err)
	}
	for _, p := range []string{".wh..wh.plnk", "plnk", ".wh.g", "a/.wh.x"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s exists, want no such entry", p)
		}
	}
}

func opaqueOf(p string) string {
	b := make([]byte, 8)
	n, err := unix.Lgetxattr(p, overlayOpaqueXattr, b)
	if err != nil {
		return ""
	}
	return string(b[:n])
}

// TestApplyUpperRefuses: what an upper dir cannot hold safely is refused
// with an error naming the entry.
func TestApplyUpperRefuses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("run as root")
	}
	tests := []struct {
		name  string
		tar   []byte
		entry string // named in the error
	}{
		{"0/0 char device forges a whiteout", rawTar(t, raw{h: tar.Header{Name: "dev0", Typeflag: tar.TypeChar}}), "dev0"},
		{"device number truncated to 0/0", rawTar(t, raw{h: tar.Header{Name: "dev4096", Typeflag: tar.TypeChar, Devmajor: 4096}}), "dev4096"},
		{"hard link to a lower file", mkTar(t, entry{name: "hl", typ: tar.TypeLink, link: "etc/passwd"}), "hl"},
		{"hard link to a whiteout", mkTar(t, entry{name: "f"}, entry{name: ".wh.f"}, entry{name: "hl", typ: tar.TypeLink, link: "f"}), "hl"},
		{"forged opaque xattr", rawTar(t, raw{h: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}}}), "d/"},
		{"whiteout of the parent", mkTar(t, entry{name: "a/.wh.."}), "a/.wh.."},
		{"whiteout of nothing", mkTar(t, entry{name: "a/.wh."}), "a/.wh."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ApplyUpper(context.Background(), t.TempDir(), bytes.NewReader(tt.tar), DefaultLimits)
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.entry)) {
				t.Errorf("ApplyUpper = %v, want an invalid-argument error naming %q", err, tt.entry)
			}
		})
	}
}

// TestApplyUpperOverlay mounts two layers made by ApplyUpper as the lower
// dirs of a real overlay and checks the merged tree a container would see.
func TestApplyUpperOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts overlayfs: run as root")
	}
	base := mkTar(t,
		entry{name: "keep", body: "k"},
		entry{name: "gone", body: "g"},
		entry{name: "opq/", typ: tar.TypeDir},
		entry{name: "opq/old1"}, entry{name: "opq/old2"},
		entry{name: "opq2/", typ: tar.TypeDir},
		entry{name: "opq2/lower"},
		entry{name: "d2f/", typ: tar.TypeDir},
		entry{name: "d2f/child"},
		entry{name: "f2d", body: "file"},
		entry{name: "wd/", typ: tar.TypeDir},
		entry{name: "wd/old"},
		entry{name: "sub/", typ: tar.TypeDir},
		entry{name: "sub/gone2"}, entry{name: "sub/stay", body: "s"},
		entry{name: "bl", body: "base link"},
		entry{name: "bl2", typ: tar.TypeLink, link: "bl"},
	)
	top := mkTar(t,
		entry{name: ".wh.gone"},
		entry{name: "opq/", typ: tar.TypeDir},
		entry{name: "opq/.wh..wh..opq"},
		entry{name: "opq/new", body: "n"},
		entry{name: "opq2/", typ: tar.TypeDir},
		entry{name: "opq2/mine", body: "m"},
		entry{name: "opq2/.wh..wh..opq"},
		entry{name: "d2f", body: "now a file"},
		entry{name: "f2d/", typ: tar.TypeDir},
		entry{name: "f2d/child", body: "c"},
		entry{name: ".wh.wd"},
		entry{name: "wd/", typ: tar.TypeDir},
		entry{name: "wd/new", body: "w"},
		entry{name: "sub/.wh.gone2"},
		entry{name: "newfile", body: "linked"},
		entry{name: "hl", typ: tar.TypeLink, link: "newfile"},
		entry{name: "sl", typ: tar.TypeSymlink, link: "keep"},
	)
	tmp := t.TempDir()
	lower, upper, merged := filepath.Join(tmp, "l1"), filepath.Join(tmp, "l2"), filepath.Join(tmp, "merged")
	for i, l := range []struct {
		dir string
		tar []byte
	}{{lower, base}, {upper, top}} {
		if err := os.Mkdir(l.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := ApplyUpper(context.Background(), l.dir, bytes.NewReader(l.tar), DefaultLimits); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	var tree map[string]string
	var linked, baseLinked bool
	err := onPrivateThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+upper+":"+lower); err != nil {
			return fmt.Errorf("mount overlay: %w", err)
		}
		defer unix.Unmount(merged, unix.MNT_DETACH)
		var err error
		tree, err = walkTree(merged)
		linked = sameFile(filepath.Join(merged, "newfile"), filepath.Join(merged, "hl"))
		baseLinked = sameFile(filepath.Join(merged, "bl"), filepath.Join(merged, "bl2"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"keep": "file k", "opq": "dir", "opq/new": "file n", "opq2": "dir", "opq2/mine": "file m",
		"d2f": "file now a file", "f2d": "dir", "f2d/child": "file c", "wd": "dir", "wd/new": "file w",
		"sub": "dir", "sub/stay": "file s", "newfile": "file linked", "hl": "file linked",
		"sl": "symlink keep", "bl": "file base link", "bl2": "file base link",
	}
	if fmt.Sprint(sortedTree(tree)) != fmt.Sprint(sortedTree(want)) {
		t.Errorf("merged tree:\n got %v\nwant %v", sortedTree(tree), sortedTree(want))
	}
	if !linked || !baseLinked {
		t.Errorf("hard links: newfile/hl same file %v, bl/bl2 same file %v; want both", linked, baseLinked)
	}
}

// walkTree lists root's tree as path → "dir", "file CONTENT" or
// "symlink TARGET".
func walkTree(root string) (map[string]string, error) {
	tree := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
			tree[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			tree[rel] = "symlink " + l
			return err
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			tree[rel] = "file " + string(b)
			return err
		default:
			tree[rel] = "other " + d.Type().String()
		}
		return nil
	})
	return tree, err
}

func sortedTree(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// raw is a tar entry given as a full header, for what mkTar cannot say
// (devices, PAX records, sizes that lie).
type raw struct {
	h    tar.Header
	body string
}

func rawTar(t testing.TB, es ...raw) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.h
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(e.body))
		}
		if h.Format == tar.FormatUnknown && h.PAXRecords != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
