package archive

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mtime is a fixed time the test trees use, so that headers can be
// compared exactly.
var mtime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// node describes one file of a test tree.
type node struct {
	path string      // relative to the tree
	mode os.FileMode // with type bits: 0 is a regular file
	data string      // content, or a symlink's target
}

// makeTree builds nodes under dir, in order, and stamps every mtime.
func makeTree(t *testing.T, dir string, nodes []node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(dir, n.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case n.mode&os.ModeDir != 0:
			if err := os.Mkdir(p, n.mode.Perm()); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, n.mode&(os.ModePerm|os.ModeSticky|os.ModeSetgid|os.ModeSetuid)); err != nil {
				t.Fatal(err)
			}
		case n.mode&os.ModeSymlink != 0:
			if err := os.Symlink(n.data, p); err != nil {
				t.Fatal(err)
			}
		case n.mode&os.ModeNamedPipe != 0:
			if err := unix.Mkfifo(p, uint32(n.mode.Perm())); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(n.data), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, n.mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Times last (children change their directories' times), deepest first.
	for i := len(nodes) - 1; i >= 0; i-- {
		p := filepath.Join(dir, nodes[i].path)
		ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, 0); err != nil {
		t.Fatal(err)
	}
}

// entry is what a test reads back from a tar.
type entry struct {
	name     string
	typ      byte
	mode     int64
	linkname string
	data     string
}

func readTar(t *testing.T, r io.Reader) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{name: h.Name, typ: h.Typeflag, mode: h.Mode, linkname: h.Linkname, data: string(b)})
	}
}

func names(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.name)
	}
	return out
}

var sampleTree = []node{
	{path: "etc", mode: os.ModeDir | 0o755},
	{path: "etc/hostname", mode: 0o644, data: "box\n"},
	{path: "etc/shadow", mode: 0o640, data: "root:*:\n"},
	{path: "dir", mode: os.ModeDir | 0o750},
	{path: "dir/a", mode: os.ModeSetuid | 0o755, data: "aaa"},
	{path: "dir/sub", mode: os.ModeDir | 0o700},
	{path: "dir/sub/b", mode: 0o600, data: "b"},
	{path: "dir/fifo", mode: os.ModeNamedPipe | 0o644},
	{path: "dir/rel", mode: os.ModeSymlink, data: "sub/b"},
	{path: "linkdir", mode: os.ModeSymlink, data: "/dir"},
	{path: "escape", mode: os.ModeSymlink, data: "../../../../etc"},
	{path: "dangling", mode: os.ModeSymlink, data: "/nowhere/x"},
	{path: "loop", mode: os.ModeSymlink, data: "loop"},
}

func TestStatPath(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, sampleTree)
	tests := []struct {
		path string
		want PathStat
	}{
		{"/etc/hostname", PathStat{Name: "hostname", Size: 4, Mode: 0o644, LinkTarget: ""}},
		{"etc/hostname", PathStat{Name: "hostname", Size: 4, Mode: 0o644}},
		{"/dir", PathStat{Name: "dir", Mode: os.ModeDir | 0o750}},
		{"/dir/", PathStat{Name: "dir", Mode: os.ModeDir | 0o750}},
		{"/dir/.", PathStat{Name: ".", Mode: os.ModeDir | 0o750}},
		{"/dir/a", PathStat{Name: "a", Size: 3, Mode: os.ModeSetuid | 0o755}},
		{"/dir/fifo", PathStat{Name: "fifo", Mode: os.ModeNamedPipe | 0o644}},
		{"/", PathStat{Name: "/", Mode: os.ModeDir | 0o755}},
		{"/dir/../etc/./hostname", PathStat{Name: "hostname", Size: 4, Mode: 0o644}},
		{"/../../etc/hostname", PathStat{Name: "hostname", Size: 4, Mode: 0o644}},
		// The last component is not followed; LinkTarget is resolved in the root.
		{"/linkdir", PathStat{Name: "linkdir", Size: 4, Mode: os.ModeSymlink | 0o777, LinkTarget: "/dir"}},
		{"/linkdir/", PathStat{Name: "linkdir", Mode: os.ModeDir | 0o750}},
		{"/linkdir/a", PathStat{Name: "a", Size: 3, Mode: os.ModeSetuid | 0o755}},
		{"/dir/rel", PathStat{Name: "rel", Size: 5, Mode: os.ModeSymlink | 0o777, LinkTarget: "/dir/sub/b"}},
		{"/linkdir/rel", PathStat{Name: "rel", Size: 5, Mode: os.ModeSymlink | 0o777, LinkTarget: "/dir/sub/b"}},
		{"/escape", PathStat{Name: "escape", Size: 15, Mode: os.ModeSymlink | 0o777, LinkTarget: "/etc"}},
		{"/escape/shadow", PathStat{Name: "shadow", Size: 8, Mode: 0o640}},
		{"/dangling", PathStat{Name: "dangling", Size: 10, Mode: os.ModeSymlink | 0o777, LinkTarget: "/nowhere/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := StatPath(root, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Mtime.Equal(mtime) {
				t.Errorf("mtime = %v, want %v", got.Mtime, mtime)
			}
			got.Mtime = time.Time{}
			if tt.want.Mode.IsDir() {
				got.Size = 0 // file system dependent
			}
			if got != tt.want {
				t.Errorf("StatPath(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
		})
	}
}

func TestStatPathErrors(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, sampleTree)
	tests := []struct {
		path string
		want error
	}{
		{"/nope", errdefsNotFound},
		{"/dir/nope/x", errdefsNotFound},
		{"/escape/nope", errdefsNotFound},
		{"/etc/hostname/", errdefsInvalid},
		{"/etc/hostname/x", errdefsInvalid},
		{"/loop/", errdefsInvalid},
		{"", errdefsInvalid},
	}
	for _, tt := range tests {
		_, err := StatPath(root, tt.path)
		if !errors.Is(err, tt.want) {
			t.Errorf("StatPath(%q) = %v, want %v", tt.path, err, tt.want)
			continue
		}
		if tt.path != "" && !strings.Contains(err.Error(), tt.path) {
			t.Errorf("error %q does not name the path %q", err, tt.path)
		}
	}
}

func TestEncodePathStat(t *testing.T) {
	s, err := EncodePathStat(PathStat{Name: "a", Size: 3, Mode: os.ModeDir | 0o755, Mtime: mtime, LinkTarget: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	// The value moby's client decodes (container.PathStat's JSON).
	want := "eyJuYW1lIjoiYSIsInNpemUiOjMsIm1vZGUiOjIxNDc0ODQxNDEsIm10aW1lIjoiMjAyMS0wMy0wNFQwNTowNjowN1oiLCJsaW5rVGFyZ2V0IjoiL2IifQ=="
	if s != want {
		t.Errorf("EncodePathStat = %s, want %s", s, want)
	}
}

func TestCopyOut(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, sampleTree)
	ctx := context.Background()
	tests := []struct {
		path string
		want []string
	}{
		{"/etc/hostname", []string{"hostname"}},
		{"/dir", []string{"dir/", "dir/a", "dir/fifo", "dir/rel", "dir/sub/", "dir/sub/b"}},
		{"/dir/", []string{"dir/", "dir/a", "dir/fifo", "dir/rel", "dir/sub/", "dir/sub/b"}},
		{"/dir/.", []string{"./", "./a", "./fifo", "./rel", "./sub/", "./sub/b"}},
		{"/dir/sub/..", []string{"dir/", "dir/a", "dir/fifo", "dir/rel", "dir/sub/", "dir/sub/b"}},
		// A symlink is archived as one...
		{"/linkdir", []string{"linkdir"}},
		// ...unless the path ends in "/": then its directory, named after the link.
		{"/linkdir/", []string{"linkdir/", "linkdir/a", "linkdir/fifo", "linkdir/rel", "linkdir/sub/", "linkdir/sub/b"}},
		{"/escape/hostname", []string{"hostname"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rc, st, err := CopyOut(ctx, root, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			es := readTar(t, rc)
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if got := names(es); !slices.Equal(got, tt.want) {
				t.Errorf("entries = %q, want %q", got, tt.want)
			}
			if st.Name != filepath.Base(strings.TrimSuffix(tt.path, "/")) && !(tt.path == "/dir/sub/.." && st.Name == "dir") {
				t.Errorf("stat name = %q", st.Name)
			}
		})
	}
}

func TestCopyOutEntries(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, sampleTree)
	if err := os.Link(filepath.Join(root, "dir/a"), filepath.Join(root, "dir/sub/hard")); err != nil {
		t.Fatal(err)
	}
	rc, _, err := CopyOut(context.Background(), root, "/dir")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := readTar(t, rc)
	want := []entry{
		{name: "dir/", typ: tar.TypeDir, mode: 0o750},
		{name: "dir/a", typ: tar.TypeReg, mode: 0o4755, data: "aaa"},
		{name: "dir/fifo", typ: tar.TypeFifo, mode: 0o644},
		{name: "dir/rel", typ: tar.TypeSymlink, mode: 0o777, linkname: "sub/b"},
		{name: "dir/sub/", typ: tar.TypeDir, mode: 0o700},
		{name: "dir/sub/b", typ: tar.TypeReg, mode: 0o600, data: "b"},
		{name: "dir/sub/hard", typ: tar.TypeLink, mode: 0o4755, linkname: "dir/a"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", got, want)
	}
}

func TestCopyOutRoot(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, sampleTree[:3])
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/", []string{"/", "/etc/", "/etc/hostname", "/etc/shadow"}},
		{"/.", []string{"./", "./etc/", "./etc/hostname", "./etc/shadow"}},
	} {
		rc, _, err := CopyOut(context.Background(), root, tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(readTar(t, rc)); !slices.Equal(got, tt.want) {
			t.Errorf("CopyOut(%q) = %q, want %q", tt.path, got, tt.want)
		}
		rc.Close()
	}
}

func TestCopyOutNotFound(t *testing.T) {
	root := t.TempDir()
	_, _, err := CopyOut(context.Background(), root, "/nope")
	if !errors.Is(err, errdefsNotFound) {
		t.Errorf("err = %v, want not found", err)
	}
}

// A consumer that stops early must not leave the producer blocked.
func TestCopyOutCloseEarly(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, []node{{path: "big", mode: 0o644, data: strings.Repeat("x", 1<<20)}})
	rc, _, err := CopyOut(context.Background(), root, "/big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { rc.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

func TestExport(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, sampleTree[:7])
	rc, err := Export(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := []string{"dir/", "dir/a", "dir/sub/", "dir/sub/b", "etc/", "etc/hostname", "etc/shadow"}
	if got := names(readTar(t, rc)); !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}

// Symlinks below the top are archived as links, never followed: the
// container's "escape -> ../../../../etc" must not pull in the host's /etc.
func TestCopyOutNeverFollowsBelowTop(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, sampleTree)
	for _, p := range []string{"/", "/."} {
		rc, _, err := CopyOut(context.Background(), root, p)
		if err != nil {
			t.Fatal(err)
		}
		es := readTar(t, rc)
		rc.Close()
		for _, e := range es {
			base := strings.TrimPrefix(strings.TrimPrefix(e.name, "."), "/")
			if strings.HasPrefix(base, "escape") && (base != "escape" || e.typ != tar.TypeSymlink) {
				t.Errorf("CopyOut(%q): entry %q (type %c) went through the symlink", p, e.name, e.typ)
			}
			if strings.HasPrefix(base, "linkdir/") {
				t.Errorf("CopyOut(%q): entry %q went through the symlink", p, e.name)
			}
		}
	}
}
