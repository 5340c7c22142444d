package registry_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// hostileTar writes hdrs (with body for regular files) as a tar; raw, if
// set, is inserted verbatim after the first header.
func hostileTar(t *testing.T, raw []byte, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range hdrs {
		if i == 1 && raw != nil {
			if err := tw.Flush(); err != nil {
				t.Fatal(err)
			}
			buf.Write(raw)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bigPAXHeader is a PAX extended header ('x') whose one record is over
// 1 MiB (archive/tar's limit), written by hand: tar.Writer refuses it.
func bigPAXHeader(t *testing.T) []byte {
	t.Helper()
	v := strings.Repeat("x", 1<<20+1024)
	k := "comment"
	n := len(k) + len(v) + 3
	for len(fmt.Sprintf("%d %s=%s\n", n, k, v)) != n {
		n = len(fmt.Sprintf("%d %s=%s\n", n, k, v))
	}
	rec := fmt.Sprintf("%d %s=%s\n", n, k, v)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "PaxHeaders/x", Typeflag: tar.TypeReg, Size: int64(len(rec)), Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(rec)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[156] = tar.TypeXHeader
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// oneLayerImage is an image of the one layer tarBytes.
func oneLayerImage(t *testing.T, tarBytes []byte) (v1.Image, string) {
	t.Helper()
	l := layerOf(t, tarBytes)
	dg, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return stackImage(t, empty.Image, runtime.GOARCH, nil, l), dg.String()
}

func nlink(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

// TestPullHostileLayers pushes images whose one layer tar is hostile to a
// real registry and pulls them. Absolute names and names through a
// symlink to / are taken from the layer's root (as docker does: the pull
// succeeds, the file is inside the snapshot); a name that climbs out
// ("../") is a breakout docker refuses too. The others fail with one
// line naming the image and the layer, and leave no image, layer blob,
// ingest or snapshot. Nothing appears outside the data root: each case's
// target is a unique path under a temporary directory of the test (and
// /etc/shadow keeps its link count).
func TestPullHostileLayers(t *testing.T) {
	reg := startRegistry(t)
	d := daemontest.Start(t)
	outside := t.TempDir() // absolute; the layers aim at it
	rel := strings.TrimPrefix(outside, "/")
	up := strings.Repeat("../", 16)
	reg0 := &tar.Header{Name: "ok", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}
	shadowLinks := nlink(t, "/etc/shadow")

	for _, tc := range []struct {
		name   string
		tar    func() []byte
		want   []string // error text; nil: the pull succeeds
		inside string   // when it succeeds: a path that is in the snapshot
	}{
		{name: "dotdot", tar: func() []byte {
			return hostileTar(t, nil, reg0, &tar.Header{Name: up + rel + "/escape", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
		}, want: []string{"climbs out"}},
		{name: "absolute", tar: func() []byte {
			return hostileTar(t, nil, reg0, &tar.Header{Name: outside + "/abs", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
		}, inside: rel + "/abs"},
		{name: "symlink-root", tar: func() []byte {
			return hostileTar(t, nil, reg0,
				&tar.Header{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: "/", Mode: 0o777},
				&tar.Header{Name: "evil" + outside + "/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
		}, inside: rel + "/x"}, // evil resolves to the layer's root, where the parents are made
		{name: "symlink-dotdot", tar: func() []byte {
			return hostileTar(t, nil, reg0,
				&tar.Header{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: up + rel, Mode: 0o777},
				&tar.Header{Name: "evil/y", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
		}, want: []string{"evil/y"}},
		{name: "hardlink-shadow", tar: func() []byte {
			return hostileTar(t, nil, reg0, &tar.Header{Name: "shadow", Typeflag: tar.TypeLink, Linkname: "/etc/shadow", Mode: 0o644})
		}, want: []string{`"shadow"`}},
		{name: "hardlink-dotdot", tar: func() []byte {
			return hostileTar(t, nil, reg0, &tar.Header{Name: "shadow", Typeflag: tar.TypeLink, Linkname: up + "etc/shadow", Mode: 0o644})
		}, want: []string{`"shadow"`}},
		{name: "whiteout-device", tar: func() []byte {
			return hostileTar(t, nil, reg0, &tar.Header{Name: "etc", Typeflag: tar.TypeChar, Devmajor: 0, Devminor: 0, Mode: 0o600})
		}, want: []string{`"etc"`}},
		{name: "pax-over-1mib", tar: func() []byte {
			return hostileTar(t, bigPAXHeader(t), reg0, &tar.Header{Name: "after", Typeflag: tar.TypeReg, Mode: 0o644})
		}, want: []string{`"ok"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, layer := oneLayerImage(t, tc.tar())
			cfg, err := img.ConfigName()
			if err != nil {
				t.Fatal(err)
			}
			repo := "hostile-" + tc.name
			ref := reg.Host + "/" + repo + ":v1"
			push(t, ref, img)

			images := d.MustCapsa("images", "-a", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
			blobs := committedBlobs(t, d)
			snaps := snapshotDirs(t, d)
			r := d.Capsa("pull", ref)
			if ents, err := os.ReadDir(outside); err != nil || len(ents) != 0 {
				t.Errorf("the layer wrote outside the data root: %s holds %v (%v)", outside, ents, err)
			}
			if n := nlink(t, "/etc/shadow"); n != shadowLinks {
				t.Errorf("/etc/shadow has %d links, had %d", n, shadowLinks)
			}
			if tc.want == nil {
				if r.Code != 0 {
					t.Fatalf("capsa pull %s: %v", ref, r)
				}
				found := false
				for _, s := range snapshotDirs(t, d) {
					if _, err := os.Lstat(filepath.Join(d.DataRoot, "snapshots", "overlay", "snapshots", s, "fs", tc.inside)); err == nil {
						found = true
					}
				}
				if !found {
					t.Errorf("no snapshot holds %s", tc.inside)
				}
				d.MustCapsa("rmi", ref)
				return
			}
			if r.Code == 0 {
				t.Fatalf("capsa pull %s succeeded: %v", ref, r)
			}
			msg := strings.TrimSpace(r.Stderr)
			t.Logf("capsa pull %s: %s", ref, msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("the error is not one line:\n%s", msg)
			}
			for _, w := range append([]string{reg.Host + "/" + repo, "layer " + layer}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("the error lacks %q: %s", w, msg)
				}
			}
			if got := d.MustCapsa("images", "-a", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); got != images {
				t.Errorf("capsa images changed:\n%s\nwas\n%s", got, images)
			}
			after := committedBlobs(t, d)
			t.Logf("config blob committed: %v", after[cfg.String()])
			for dg := range after {
				// The config comes first and stays until the GC's grace is over.
				if !blobs[dg] && dg != cfg.String() {
					t.Errorf("the failed pull committed blob %s (the layer is %s)", dg, layer)
				}
			}
			if left := ingests(t, d); len(left) != 0 {
				t.Errorf("ingests left: %v", left)
			}
			if got := snapshotDirs(t, d); !slices.Equal(got, snaps) {
				t.Errorf("snapshots after the failed pull: %v, before: %v", got, snaps)
			}
		})
	}

	// 100 000 tiny files: under the default entry limit (1<<20), so it
	// unpacks; it must do so in reasonable time.
	t.Run("many-entries", func(t *testing.T) {
		const n = 100000
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: "f/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f/%06d", i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		img, _ := oneLayerImage(t, buf.Bytes())
		ref := reg.Host + "/many:v1"
		push(t, ref, img)
		start := time.Now()
		if r := d.Capsa("pull", ref); r.Code != 0 {
			t.Fatalf("capsa pull %s: %v", ref, r)
		}
		took := time.Since(start)
		t.Logf("pulled and unpacked %d entries in %v", n, took)
		if took > 30*time.Second {
			t.Errorf("unpacking %d entries took %v", n, took)
		}
		count := 0
		for _, s := range snapshotDirs(t, d) {
			ents, err := os.ReadDir(filepath.Join(d.DataRoot, "snapshots", "overlay", "snapshots", s, "fs", "f"))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			count += len(ents)
		}
		if count != n {
			t.Errorf("the snapshots hold %d files of %d", count, n)
		}
		d.MustCapsa("rmi", ref)
	})
}
