package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
		"/../../etc/passwd":  "etc/passwd", // absolute: from the root, which has no parent
		"./":                 "",
		"a//b/./c":           "a/b/c",
		"a/..":               "",
		"a/.wh..wh..opq":     "a/.wh..wh..opq",
		"../../etc/passwd":   "!",
		"..":                 "!",
		"a/../../b":          "!",
		"../../.wh.anything": "!",
	} {
		got, ok := clean(in)
		if !ok {
			got = "!"
		}
		if got != want {
			t.Errorf("clean(%q) = %q, want %q (! for refused)", in, got, want)
		}
	}
}

// Builders of raw entries, for the hostile cases (shared with the fuzz
// target's seeds, hence testing.TB).
func file(name, body string) raw {
	return raw{h: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, body: body}
}
func dir(name string) raw { return raw{h: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}} }
func symlink(name, target string) raw {
	return raw{h: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) raw {
	return raw{h: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}
func device(name string, typ byte, major, minor int64) raw {
	return raw{h: tar.Header{Name: name, Typeflag: typ, Devmajor: major, Devminor: minor, Mode: 0o600}}
}

// paxHeader is a PAX extended header block carrying records verbatim,
// for what tar.Writer refuses to write (records over its limit, GNU
// sparse maps): a ustar header of type 'x' and the records.
func paxHeader(records string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "PaxHeaders/x", Typeflag: tar.TypeReg, Size: int64(len(records)), Format: tar.FormatUSTAR})
	tw.Write([]byte(records))
	tw.Flush()
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

// paxRecord formats one PAX record, whose length counts itself.
func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3
	for {
		r := fmt.Sprintf("%d %s=%s\n", n, k, v)
		if len(r) == n {
			return r
		}
		n = len(r)
	}
}

// hostileCase is one hostile layer, applied by ApplyLayer and ApplyUpper.
type hostileCase struct {
	name string
	tar  []byte
	lim  Limits // zero: DefaultLimits
	// wantErr is ApplyLayer's error class (nil: success, errAny: any
	// error); upperErr, if set, is ApplyUpper's where it differs
	// (errNone: success).
	wantErr, upperErr error
	entry             string            // the entry the error must name
	inside            map[string]string // paths in root: content, "" = exists
}

var (
	errAny  = errors.New("any error")
	errNone = errors.New("no error")
)

// hostileCases are layers that try to write outside the root (a sibling
// directory outside) or to exhaust it.
func hostileCases(tb testing.TB, outside string) []hostileCase {
	small := Limits{MaxBytes: 1024, MaxEntries: 10, MaxPath: 100}
	return []hostileCase{
		{name: "dot-dot name refused", tar: rawTar(tb, file("../../outside/secret", "pwned")),
			wantErr: errdefs.ErrInvalid, entry: "../../outside/secret"},
		{name: "absolute name stays inside", tar: rawTar(tb, file(outside+"/secret", "pwned")),
			inside: map[string]string{strings.TrimPrefix(outside, "/") + "/secret": "pwned"}},
		{name: "absolute symlink then a file through it",
			tar:     rawTar(tb, symlink("esc", outside), file("esc/secret", "pwned")),
			wantErr: os.ErrNotExist, upperErr: os.ErrNotExist, entry: "esc/secret"}, // esc resolves to root/<outside>
		{name: "absolute symlink then a new file through it",
			tar:     rawTar(tb, symlink("esc", outside), file("esc/new", "pwned")),
			wantErr: os.ErrNotExist, upperErr: os.ErrNotExist, entry: "esc/new"},
		{name: "relative symlink climbing out then a file through it",
			tar:    rawTar(tb, symlink("up", "../../../../../.."), file("up/x", "in root")),
			inside: map[string]string{"x": "in root"}},
		{name: "symlinked parent dir to ../outside",
			tar:     rawTar(tb, symlink("p", "../outside"), file("p/secret", "pwned")),
			wantErr: os.ErrNotExist, entry: "p/secret"},
		{name: "symlink to outside file then a file over it",
			tar:    rawTar(tb, symlink("s", outside+"/secret"), file("s", "mine")),
			inside: map[string]string{"s": "mine"}},
		{name: "whiteout through a symlink",
			tar:      rawTar(tb, symlink("esc", outside), file("esc/.wh.secret", "")),
			upperErr: os.ErrNotExist, entry: "esc/.wh.secret"}, // upper: nowhere to store it
		{name: "opaque dir through a symlink",
			tar:      rawTar(tb, symlink("esc", outside), file("esc/.wh..wh..opq", "")),
			upperErr: os.ErrNotExist, entry: "esc/.wh..wh..opq"},
		{name: "whiteout of the parent", tar: rawTar(tb, dir("a/"), file("a/.wh..", "")),
			wantErr: errdefs.ErrInvalid, entry: "a/.wh.."},
		{name: "hard link to a file outside", tar: rawTar(tb, hardlink("h", outside+"/secret")),
			wantErr: os.ErrNotExist, upperErr: errdefs.ErrInvalid, entry: "h"},
		{name: "hard link climbing out", tar: rawTar(tb, hardlink("h", "../outside/secret")),
			wantErr: errdefs.ErrInvalid, entry: "h"},
		{name: "hard link to a symlink pointing outside, then written",
			tar: rawTar(tb, symlink("s", outside+"/secret"), hardlink("h", "s"), file("h", "mine")),
			// h links the symlink itself; the file then replaces h.
			inside: map[string]string{"h": "mine", "s": ""}},
		{name: "hard link through a symlinked parent",
			tar:     rawTar(tb, symlink("p", outside), hardlink("h", "p/secret")),
			wantErr: os.ErrNotExist, upperErr: errdefs.ErrInvalid, entry: "h"},
		{name: "bytes over the limit", tar: rawTar(tb, file("big", strings.Repeat("x", 2048))),
			lim: small, wantErr: errdefs.ErrInvalid, entry: "big"},
		{name: "bytes over the limit in all", tar: rawTar(tb, file("a", strings.Repeat("x", 600)), file("b", strings.Repeat("x", 600))),
			lim: small, wantErr: errdefs.ErrInvalid, entry: "b"},
		{name: "huge declared size, no data",
			tar:     append(rawTar(tb, file("a", ""))[:512], hugeHeader(tb, "huge")...),
			wantErr: errdefs.ErrInvalid, entry: "huge"},
		{name: "sparse file with a huge real size",
			tar: append(append(paxHeader(paxRecord("GNU.sparse.major", "1")+paxRecord("GNU.sparse.minor", "0")+
				paxRecord("GNU.sparse.name", "sparse")+paxRecord("GNU.sparse.realsize", "1099511627776")),
				rawTar(tb, file("GNUSparseFile.0/sparse", "1\n0\n1\n"+strings.Repeat("\x00", 506)+"x"))[:1024]...),
				make([]byte, 1024)...),
			wantErr: errdefs.ErrInvalid, entry: "sparse"},
		{name: "entries over the limit", tar: rawTar(tb, file("a", ""), file("b", ""), file("c", "")),
			lim: Limits{MaxBytes: 1024, MaxEntries: 2, MaxPath: 100}, wantErr: errdefs.ErrInvalid, entry: "c"},
		{name: "name over the limit", tar: rawTar(tb, file(strings.Repeat("n/", 60)+"f", "")),
			lim: small, wantErr: errdefs.ErrInvalid, entry: "n/n/n/"},
		{name: "link target over the limit", tar: rawTar(tb, symlink("l", strings.Repeat("t", 200))),
			lim: small, wantErr: errdefs.ErrInvalid, entry: "l"},
		{name: "component over NAME_MAX", tar: rawTar(tb, file(strings.Repeat("c", 300), "")),
			wantErr: errAny, entry: strings.Repeat("c", 300)},
		{name: "PAX header with a huge record",
			tar: append(append(rawTar(tb, file("before", ""))[:512],
				paxHeader(paxRecord("comment", strings.Repeat("x", 2<<20)))...), rawTar(tb, file("after", ""))...),
			wantErr: errAny, entry: "before"},
		{name: "truncated tar", tar: rawTar(tb, file("f", strings.Repeat("x", 4096)))[:1024],
			wantErr: errAny, entry: "f"},
		{name: "0/0 char device", tar: rawTar(tb, device("wh", tar.TypeChar, 0, 0)),
			upperErr: errdefs.ErrInvalid, entry: "wh", inside: map[string]string{"wh": ""}},
		{name: "device number the kernel would truncate", tar: rawTar(tb, device("big", tar.TypeChar, 4096, 0)),
			wantErr: errdefs.ErrInvalid, entry: "big"},
		{name: "char device with NoDevices", tar: rawTar(tb, device("null", tar.TypeChar, 1, 3)),
			lim: Limits{MaxBytes: 1024, MaxEntries: 10, MaxPath: 100, NoDevices: true}, wantErr: errdefs.ErrInvalid, entry: "null"},
		{name: "block device with NoDevices", tar: rawTar(tb, device("sda", tar.TypeBlock, 8, 0)),
			lim: Limits{MaxBytes: 1024, MaxEntries: 10, MaxPath: 100, NoDevices: true}, wantErr: errdefs.ErrInvalid, entry: "sda"},
		{name: "fifo with NoDevices", tar: rawTar(tb, device("fifo", tar.TypeFifo, 0, 0)),
			lim: Limits{MaxBytes: 1024, MaxEntries: 10, MaxPath: 100, NoDevices: true}, inside: map[string]string{"fifo": ""}},
		{name: "forged overlay xattr", tar: rawTar(tb, raw{h: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc"}}}),
			wantErr: errdefs.ErrInvalid, entry: "d/"},
	}
}

// hugeHeader is a regular file header declaring nearly 8 EiB of data.
func hugeHeader(tb testing.TB, name string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: 1<<62 + 1, Mode: 0o644}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes() // no data: the limit must refuse it before reading
}

// TestApplyHostile applies layers that try to reach outside the root or
// to exhaust it, with ApplyLayer and ApplyUpper. Each case gets a fresh
// root with a sibling directory "outside" holding "secret"; nothing may
// change there or beside the root, and every error is one line naming
// the entry.
func TestApplyHostile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("applying layers sets owners: run as root")
	}
	for _, upper := range []bool{false, true} {
		apply := map[bool]func(context.Context, string, io.Reader, Limits) error{false: ApplyLayer, true: ApplyUpper}[upper]
		for _, tt := range hostileCases(t, "/OUTSIDE") {
			t.Run(fmt.Sprintf("upper=%v/%s", upper, tt.name), func(t *testing.T) {
				base := t.TempDir()
				root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
				mkSentinel(t, root, outside)
				// The cases were built for "/OUTSIDE"; build them again for
				// this test's real outside directory.
				for _, c := range hostileCases(t, outside) {
					if c.name == tt.name {
						tt = c
					}
				}
				lim := tt.lim
				if lim == (Limits{}) {
					lim = DefaultLimits
				}
				want := tt.wantErr
				if upper && tt.upperErr != nil {
					want = tt.upperErr
					if want == errNone {
						want = nil
					}
				}
				err := apply(context.Background(), root, bytes.NewReader(tt.tar), lim)
				t.Logf("apply: %v", err)
				switch {
				case want == nil && err != nil:
					t.Errorf("apply = %v", err)
				case want != nil && err == nil:
					t.Errorf("apply succeeded, want %v", want)
				case want != nil && want != errAny && !errors.Is(err, want):
					t.Errorf("apply = %v, want %v", err, want)
				case err != nil && (strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tt.entry)):
					t.Errorf("apply = %q, want one line naming %q", err, tt.entry)
				}
				checkSentinel(t, base, outside)
				if err != nil {
					return
				}
				for p, w := range tt.inside {
					fi, err := os.Lstat(filepath.Join(root, p))
					if err != nil {
						t.Errorf("%s: %v, want it in root", p, err)
						continue
					}
					if !fi.Mode().IsRegular() || w == "" {
						continue // never read a fifo: it blocks
					}
					if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != w {
						t.Errorf("%s = %q, %v; want %q", p, b, err, w)
					}
				}
			})
		}
	}
}

// TestApplyEntryBomb: a layer of 100 000 tiny entries is refused at
// MaxEntries, early, without reading the rest.
func TestApplyEntryBomb(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("applying layers sets owners: run as root")
	}
	if DefaultLimits.MaxEntries < 1<<20 {
		t.Errorf("DefaultLimits.MaxEntries = %d; real images reach ~1M files", DefaultLimits.MaxEntries)
	}
	for _, apply := range []func(context.Context, string, io.Reader, Limits) error{ApplyLayer, ApplyUpper} {
		base := t.TempDir()
		root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
		mkSentinel(t, root, outside)
		pr, pw := io.Pipe()
		written := make(chan int, 1)
		go func() {
			tw := tar.NewWriter(pw)
			n := 0
			for ; n < 100_000; n++ {
				if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/f%d", n%100, n), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
					break
				}
			}
			pw.CloseWithError(tw.Close())
			written <- n
		}()
		lim := DefaultLimits
		lim.MaxEntries = 1000
		err := apply(context.Background(), root, pr, lim)
		pr.CloseWithError(errors.New("applier done"))
		n := <-written
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), `"d0/f1000"`) {
			t.Errorf("apply = %v, want invalid naming entry d0/f1000", err)
		}
		if n > 2000 {
			t.Errorf("%d entries read, want the refusal at 1000", n)
		}
		checkSentinel(t, base, outside)
	}
}

func mkSentinel(t *testing.T, root, outside string) {
	t.Helper()
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkSentinel: base still holds only root and outside, and outside only
// its untouched secret.
func checkSentinel(t testing.TB, base, outside string) {
	t.Helper()
	if err := sentinelChanged(base, outside); err != nil {
		t.Error(err)
	}
}

func sentinelChanged(base, outside string) error {
	top, _ := os.ReadDir(base)
	ents, _ := os.ReadDir(outside)
	b, _ := os.ReadFile(filepath.Join(outside, "secret"))
	var st unix.Stat_t
	unix.Lstat(filepath.Join(outside, "secret"), &st)
	if len(top) != 2 || len(ents) != 1 || string(b) != "secret" || st.Mode&0o7777 != 0o600 || st.Uid != 0 {
		return fmt.Errorf("outside the root changed: %d entries beside root, %d in outside, secret = %q mode %o uid %d",
			len(top), len(ents), b, st.Mode&0o7777, st.Uid)
	}
	return nil
}
