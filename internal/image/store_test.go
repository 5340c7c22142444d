package image

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func names(t *testing.T, s *Store) []string {
	t.Helper()
	recs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Name+"="+r.Target.Digest.Encoded()[:1])
	}
	return out
}

// TestStoreDangling: a tag that moves keeps the image it leaves as a
// dangling record when nothing else names it; naming a dangling image
// removes its dangling record; Remove with keep leaves one.
func TestStoreDangling(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(filepath.Join(t.TempDir(), "images.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	desc := func(c string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + c + "000")}
	}
	a, b, c := desc("a"), desc("b"), desc("c")
	steps := []struct {
		what string
		do   func() error
		want []string
	}{
		{"tag a", func() error { _, err := s.Tag(ctx, "x:1", a); return err }, []string{"x:1=a"}},
		{"repo digest of a", func() error { _, err := s.Tag(ctx, "x@"+a.Digest.String(), a); return err },
			[]string{"x:1=a", "x@sha256:a000=a"}},
		{"x:1 moves to b; a keeps its digest, no dangling record",
			func() error { _, err := s.Tag(ctx, "x:1", b); return err },
			[]string{"x:1=b", "x@sha256:a000=a"}},
		{"y:1 on b, x:1 moves to c: b is still y:1",
			func() error {
				if _, err := s.Tag(ctx, "y:1", b); err != nil {
					return err
				}
				_, err := s.Tag(ctx, "x:1", c)
				return err
			},
			[]string{"x:1=c", "x@sha256:a000=a", "y:1=b"}},
		{"y:1 moves to c: b is dangling",
			func() error {
				res, err := s.Tag(ctx, "y:1", c)
				if err == nil && (!res.KeptDangling || res.Previous.Digest != b.Digest) {
					t.Errorf("Tag result: %+v", res)
				}
				return err
			},
			[]string{"moby-dangling@sha256:b000=b", "x:1=c", "x@sha256:a000=a", "y:1=c"}},
		{"PutDangling of a named image does nothing", func() error { _, err := s.PutDangling(ctx, c); return err },
			[]string{"moby-dangling@sha256:b000=b", "x:1=c", "x@sha256:a000=a", "y:1=c"}},
		{"tagging b removes its dangling record", func() error { _, err := s.Tag(ctx, "z:1", b); return err },
			[]string{"x:1=c", "x@sha256:a000=a", "y:1=c", "z:1=b"}},
		{"Remove with keep of b's last name", func() error { return s.Remove(ctx, []string{"z:1"}, true) },
			[]string{"moby-dangling@sha256:b000=b", "x:1=c", "x@sha256:a000=a", "y:1=c"}},
		{"Remove without keep", func() error {
			return s.Remove(ctx, []string{"x@sha256:a000", DanglingName(b.Digest), "nosuch:1"}, false)
		}, []string{"x:1=c", "y:1=c"}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		if got := names(t, s); !slices.Equal(got, st.want) {
			t.Fatalf("%s: records %v, want %v", st.what, got, st.want)
		}
	}
	if _, err := s.Tag(ctx, DanglingName(a.Digest), a); err == nil {
		t.Fatal("Tag accepted a dangling name")
	}
	for name, want := range map[string][2]bool{
		"busybox:latest":         {false, false},
		"busybox@sha256:0":       {false, true},
		"moby-dangling@sha256:0": {true, false},
		"<none>:<none>":          {true, false},
	} {
		if got := [2]bool{IsDangling(name), IsDigestName(name)}; got != want {
			t.Errorf("IsDangling, IsDigestName(%q) = %v, want %v", name, got, want)
		}
	}
}
