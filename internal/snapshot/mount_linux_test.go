package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCommonDir(t *testing.T) {
	tests := []struct {
		paths []string
		want  string
	}{
		{[]string{"/r/snapshots/1/fs", "/r/snapshots/22/fs", "/r/snapshots/3/work"}, "/r/snapshots"},
		{[]string{"/r/snapshots/1/fs"}, "/r/snapshots/1"},
		{[]string{"/a/b", "/ab/c"}, "/"},
		{[]string{"/a/b", "rel/c"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := commonDir(tt.paths); got != tt.want {
			t.Errorf("commonDir(%q) = %q, want %q", tt.paths, got, tt.want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		opts  []string
		flags uintptr
		data  string
	}{
		{[]string{"rbind", "ro"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, ""},
		{[]string{"ro", "rw", "nosuid"}, unix.MS_NOSUID, ""},
		{[]string{"lowerdir=/a:/b", "upperdir=/u", "workdir=/w"}, 0, "lowerdir=/a:/b,upperdir=/u,workdir=/w"},
	}
	for _, tt := range tests {
		flags, data := parseOptions(tt.opts)
		if flags != tt.flags || data != tt.data {
			t.Errorf("parseOptions(%q) = %#x, %q; want %#x, %q", tt.opts, flags, data, tt.flags, tt.data)
		}
	}
}

// TestLongLowerdir mounts an overlay of 120 layers whose absolute lowerdir
// list is well over a page; the mount goes through relative paths.
func TestLongLowerdir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	base := filepath.Join(t.TempDir(), strings.Repeat("long-directory-name", 3))
	var lowers []string
	for i := range 120 {
		d := filepath.Join(base, fmt.Sprint(i), "fs")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, fmt.Sprint("f", i)), []byte(fmt.Sprint(i)), 0o644)
		lowers = append([]string{d}, lowers...)
	}
	upper, work := filepath.Join(base, "u", "fs"), filepath.Join(base, "u", "work")
	os.MkdirAll(upper, 0o755)
	os.MkdirAll(work, 0o755)
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + upper, "workdir=" + work,
	}}
	if _, data := parseOptions(m.Options); len(data) < os.Getpagesize() {
		t.Fatalf("data is %d bytes, want over a page", len(data))
	}
	target := t.TempDir()
	if err := MountAll([]Mount{m}, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := UnmountAll(target); err != nil {
			t.Error(err)
		}
	})
	for _, i := range []int{0, 60, 119} {
		if b, err := os.ReadFile(filepath.Join(target, fmt.Sprint("f", i))); err != nil || string(b) != fmt.Sprint(i) {
			t.Errorf("f%d = %q, %v", i, b, err)
		}
	}
	// The process's working directory did not move.
	if wd, _ := os.Getwd(); strings.HasPrefix(wd, base) {
		t.Errorf("cwd moved to %q", wd)
	}
}

func TestUnmountAllNotMounted(t *testing.T) {
	if err := UnmountAll(t.TempDir()); err != nil {
		t.Errorf("UnmountAll of a plain dir = %v", err)
	}
	if err := UnmountAll(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("UnmountAll of a missing dir = %v", err)
	}
}
