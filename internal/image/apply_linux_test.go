package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

func TestApplyXattrs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for trusted/security xattrs")
	}
	mk := func(xattrs map[string]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		h := &tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX, PAXRecords: map[string]string{}}
		for k, v := range xattrs {
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		tw.WriteHeader(h)
		tw.Close()
		return buf.Bytes()
	}
	root := t.TempDir()
	if err := ApplyLayer(context.Background(), root, bytes.NewReader(mk(map[string]string{"user.capsa": "v"})), DefaultLimits); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	if n, err := unix.Getxattr(filepath.Join(root, "f"), "user.capsa", b); err != nil || string(b[:n]) != "v" {
		t.Errorf("user.capsa = %q, %v; want v", b[:n], err)
	}
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.redirect"} {
		err := ApplyLayer(context.Background(), t.TempDir(), bytes.NewReader(mk(map[string]string{name: "y"})), DefaultLimits)
		if !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("layer with %s: %v, want invalid", name, err)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"./a/../b/":          "b",
		"/etc/passwd":        "etc/passwd",
		"../../etc/passwd":   "etc/passwd",
		"./":                 "",
		"a//b/./c":           "a/b/c",
		"..":                 "",
		"a/.wh..wh..opq":     "a/.wh..wh..opq",
		"../../.wh.anything": ".wh.anything",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestApplyLayerHostile applies layers that try to reach outside the root
// or to exhaust it. Each case gets a fresh root with a sibling directory
// "outside" holding "secret"; nothing may change there.
func TestApplyLayerHostile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("applying layers sets owners: run as root")
	}
	tests := []struct {
		name    string
		tar     func(outside string) []byte
		lim     Limits
		wantErr error             // nil: success
		inside  map[string]string // paths in root and their content ("" = exists)
	}{
		{
			name:   "dot-dot name stays inside",
			tar:    func(string) []byte { return mkTar(t, entry{name: "../../outside/secret", body: "pwned"}) },
			inside: map[string]string{"outside/secret": "pwned"},
		},
		{
			name: "absolute symlink then a file through it",
			tar: func(outside string) []byte {
				return mkTar(t, entry{name: "esc", typ: tar.TypeSymlink, link: outside},
					entry{name: "esc/secret", body: "pwned"})
			},
			wantErr: os.ErrNotExist, // esc resolves to root/<outside>, which does not exist
		},
		{
			name: "relative symlink climbing out then a file through it",
			tar: func(string) []byte {
				return mkTar(t, entry{name: "up", typ: tar.TypeSymlink, link: "../../../../../.."},
					entry{name: "up/x", body: "in root"})
			},
			inside: map[string]string{"x": "in root"},
		},
		{
			name: "whiteout through a symlink",
			tar: func(outside string) []byte {
				return mkTar(t, entry{name: "esc", typ: tar.TypeSymlink, link: outside},
					entry{name: "esc/.wh.secret", body: ""})
			},
		},
		{
			name: "opaque dir through a symlink",
			tar: func(outside string) []byte {
				return mkTar(t, entry{name: "esc", typ: tar.TypeSymlink, link: outside},
					entry{name: "esc/.wh..wh..opq", body: ""})
			},
		},
		{
			name: "hard link to a file outside",
			tar: func(outside string) []byte {
				return mkTar(t, entry{name: "h", typ: tar.TypeLink, link: outside + "/secret"})
			},
			wantErr: os.ErrNotExist,
		},
		{
			name: "symlink replaced by a file is not followed",
			tar: func(outside string) []byte {
				return mkTar(t, entry{name: "s", typ: tar.TypeSymlink, link: outside + "/secret"},
					entry{name: "s", body: "mine"})
			},
			inside: map[string]string{"s": "mine"},
		},
		{
			name:    "bytes over the limit",
			tar:     func(string) []byte { return mkTar(t, entry{name: "big", body: strings.Repeat("x", 2048)}) },
			lim:     Limits{MaxBytes: 1024, MaxEntries: 10, MaxPath: 100},
			wantErr: errdefs.ErrInvalid,
		},
		{
			name: "entries over the limit",
			tar: func(string) []byte {
				return mkTar(t, entry{name: "a"}, entry{name: "b"}, entry{name: "c"})
			},
			lim:     Limits{MaxBytes: 1024, MaxEntries: 2, MaxPath: 100},
			wantErr: errdefs.ErrInvalid,
		},
		{
			name:    "name over the limit",
			tar:     func(string) []byte { return mkTar(t, entry{name: strings.Repeat("n/", 60) + "f"}) },
			lim:     Limits{MaxBytes: 1024, MaxEntries: 10, MaxPath: 100},
			wantErr: errdefs.ErrInvalid,
		},
		{
			name:    "truncated tar",
			tar:     func(string) []byte { b := mkTar(t, entry{name: "f", body: strings.Repeat("x", 4096)}); return b[:1024] },
			wantErr: errors.New("any"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
			os.Mkdir(root, 0o755)
			os.Mkdir(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
			lim := tt.lim
			if lim == (Limits{}) {
				lim = DefaultLimits
			}
			err := ApplyLayer(context.Background(), root, bytes.NewReader(tt.tar(outside)), lim)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("ApplyLayer = %v", err)
			case tt.wantErr != nil && err == nil:
				t.Errorf("ApplyLayer succeeded, want %v", tt.wantErr)
			case tt.wantErr != nil && tt.wantErr.Error() != "any" && !errors.Is(err, tt.wantErr):
				t.Errorf("ApplyLayer = %v, want %v", err, tt.wantErr)
			}
			ents, _ := os.ReadDir(outside)
			if b, _ := os.ReadFile(filepath.Join(outside, "secret")); len(ents) != 1 || string(b) != "secret" {
				t.Errorf("outside changed: %d entries, secret = %q", len(ents), b)
			}
			for p, w := range tt.inside {
				b, err := os.ReadFile(filepath.Join(root, p))
				if fi, lerr := os.Lstat(filepath.Join(root, p)); lerr != nil {
					t.Errorf("%s: %v, want it in root", p, lerr)
				} else if fi.Mode().IsRegular() && w != "" && (err != nil || string(b) != w) {
					t.Errorf("%s = %q, %v; want %q", p, b, err, w)
				}
			}
		})
	}
}
