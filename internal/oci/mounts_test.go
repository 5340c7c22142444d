package oci

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSortMounts: parents before children, equals in the given order.
func TestSortMounts(t *testing.T) {
	s := &specs.Spec{}
	for _, d := range []string{"/a/b/c", "/proc", "/a/b", "/dev/pts", "/a/", "/dev", "/z"} {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: d})
	}
	SortMounts(s)
	want := []string{"/proc", "/a/", "/dev", "/z", "/a/b", "/dev/pts", "/a/b/c"}
	for i, m := range s.Mounts {
		if m.Destination != want[i] {
			t.Fatalf("order %v, want %v", s.Mounts, want)
		}
	}
}
