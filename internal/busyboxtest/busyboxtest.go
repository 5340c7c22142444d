// Package busyboxtest makes busybox root filesystems for tests that run
// real containers: Debian's busybox-static (installed by make install),
// the applets a test asks for, the usual top-level directories, and an
// /etc/passwd and /etc/group with root, nobody and a user 1000.
package busyboxtest

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Binary is where busybox-static installs the static busybox.
const Binary = "/bin/busybox"

// dirs are the top-level directories of every rootfs.
var dirs = []string{"bin", "proc", "sys", "dev", "tmp", "etc", "root", "home/user"}

// files are the identity files of every rootfs.
var files = map[string]string{
	"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" +
		"user:x:1000:1000:user:/home/user:/bin/sh\n",
	"etc/group": "root:x:0:\nnogroup:x:65534:\nuser:x:1000:\naudio:x:29:user\n",
}

func busybox(t testing.TB) []byte {
	t.Helper()
	bb, err := os.ReadFile(Binary)
	if err != nil {
		t.Fatalf("busybox-static is needed (make install): %v", err)
	}
	return bb
}

// Rootfs makes the root filesystem in dir, which it creates, and returns
// dir.
func Rootfs(t testing.TB, dir string, applets ...string) string {
	t.Helper()
	bb := busybox(t)
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Tar returns the same root filesystem as a tar stream, as an image
// layer holds it.
func Tar(t testing.TB, applets ...string) []byte {
	t.Helper()
	bb := busybox(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	add := func(h *tar.Header, body []byte) {
		h.ModTime = now
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dirs {
		add(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}, nil)
	}
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))}, bb)
	for _, a := range applets {
		add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil)
	}
	for _, name := range []string{"etc/passwd", "etc/group"} {
		add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(files[name]))}, []byte(files[name]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
