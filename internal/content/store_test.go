package content

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

func TestMain(m *testing.M) {
	if root := os.Getenv("CAPSA_CONTENT_CRASH_CHILD"); root != "" {
		crashChild(root)
		return
	}
	os.Exit(m.Run())
}

// crashChild writes half of crashBlob under crashRef, says "ready" and
// waits to be killed.
func crashChild(root string) {
	s, err := Open(root)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	w, err := s.Writer(context.Background(), crashRef, digest.FromBytes(crashBlob), int64(len(crashBlob)))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if _, err := w.Write(crashBlob[:len(crashBlob)/2]); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

const crashRef = "layer/sha256:crash"

var crashBlob = bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func blobNames(t *testing.T, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Root(), "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteCommit(t *testing.T) {
	data := []byte("hello, content")
	good := digest.FromBytes(data)
	tests := []struct {
		name     string
		expected digest.Digest
		size     int64
		wantErr  error  // category of the Commit error
		wantText string // substring of the Commit error
	}{
		{name: "digest and size", expected: good, size: int64(len(data))},
		{name: "digest only", expected: good},
		{name: "nothing expected"},
		{name: "wrong digest", expected: digest.FromString("other"), size: int64(len(data)), wantErr: errdefs.ErrInvalid,
			wantText: fmt.Sprintf(`commit "ref": digest mismatch: expected %s, got %s`, digest.FromString("other"), good)},
		{name: "short", expected: good, size: int64(len(data)) + 1, wantErr: errdefs.ErrInvalid,
			wantText: fmt.Sprintf(`commit "ref": size mismatch: expected %d bytes, got %d`, len(data)+1, len(data))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			w, err := s.Writer(ctx, "ref", tt.expected, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if got := w.Digest(); got != good {
				t.Errorf("Digest() = %s, want %s", got, good)
			}
			err = w.Commit(ctx)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(fmt.Sprint(err), tt.wantText) {
					t.Fatalf("Commit() = %v, want %v containing %q", err, tt.wantErr, tt.wantText)
				}
				if names := blobNames(t, s); len(names) != 0 {
					t.Errorf("blobs after a failed commit: %v", names)
				}
				if _, err := s.Info(ctx, good); !errors.Is(err, errdefs.ErrNotFound) {
					t.Errorf("Info after a failed commit = %v, want not found", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Commit() = %v", err)
			}
			info, err := s.Info(ctx, good)
			if err != nil || info.Size != int64(len(data)) || info.Digest != good {
				t.Fatalf("Info() = %+v, %v; want size %d", info, err, len(data))
			}
			p, _ := s.BlobPath(good)
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o444 {
				t.Errorf("blob mode = %v, %v; want 0444", fi.Mode(), err)
			}
			got, err := s.ReadAll(ctx, good, 1<<20)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("ReadAll() = %q, %v; want %q", got, err, data)
			}
			if ings, _ := s.Ingests(ctx); len(ings) != 0 {
				t.Errorf("ingests after commit: %+v", ings)
			}
		})
	}
}

func TestDigestMismatchRemovesIngest(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Writer(ctx, "bad", digest.FromString("x"), 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("y"))
	if err := w.Commit(ctx); err == nil {
		t.Fatal("Commit of a wrong digest succeeded")
	}
	if ings, _ := s.Ingests(ctx); len(ings) != 0 {
		t.Errorf("ingests after a digest mismatch: %+v", ings)
	}
}

func TestWriterRefusals(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	present := []byte("present")
	if err := WriteBlob(ctx, s, "p", bytes.NewReader(present), digest.FromBytes(present), int64(len(present))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ref      string
		expected digest.Digest
		size     int64
		want     error
	}{
		{"empty ref", "", "", 0, errdefs.ErrInvalid},
		{"negative size", "r", "", -1, errdefs.ErrInvalid},
		{"malformed digest", "r", "sha256:xyz", 0, errdefs.ErrInvalid},
		{"other algorithm", "r", digest.Digest("sha512:" + strings.Repeat("ab", 64)), 0, errdefs.ErrNotImplemented},
		{"already present", "r", digest.FromBytes(present), 7, errdefs.ErrAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.Writer(ctx, tt.ref, tt.expected, tt.size)
			if !errors.Is(err, tt.want) {
				if w != nil {
					w.Close()
				}
				t.Fatalf("Writer() = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("ref held by a live writer", func(t *testing.T) {
		w, err := s.Writer(ctx, "held", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if w2, err := s.Writer(ctx, "held", "", 0); !errors.Is(err, errdefs.ErrUnavailable) {
			if w2 != nil {
				w2.Close()
			}
			t.Fatalf("second Writer() = %v, want unavailable", err)
		}
		if err := s.Abort(ctx, "held"); !errors.Is(err, errdefs.ErrUnavailable) {
			t.Errorf("Abort of a held ref = %v, want unavailable", err)
		}
	})
	t.Run("write past size", func(t *testing.T) {
		w, err := s.Writer(ctx, "big", "", 3)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if _, err := w.Write([]byte("four")); !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("Write past size = %v, want invalid", err)
		}
	})
	t.Run("bad digest to readers", func(t *testing.T) {
		for _, d := range []digest.Digest{"sha256:../../etc/passwd", "nope"} {
			if _, err := s.ReaderAt(ctx, d); !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("ReaderAt(%q) = %v, want invalid", d, err)
			}
		}
	})
}

func TestResume(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := []byte("0123456789")
	dgst := digest.FromBytes(data)
	w, err := s.Writer(ctx, "res", dgst, 10)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:4])
	w.Close()

	w, err = s.Writer(ctx, "res", dgst, 10)
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 4 {
		t.Fatalf("Offset() after resume = %d, want 4", w.Offset())
	}
	w.Write(data[4:])
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// The same ref with another expectation starts over.
	w, err = s.Writer(ctx, "res2", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abc"))
	w.Close()
	w, err = s.Writer(ctx, "res2", digest.FromString("z"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Offset() != 0 {
		t.Errorf("Offset() with a changed expectation = %d, want 0", w.Offset())
	}
}

func TestConcurrentWritersOfOneDigest(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("x"), 1<<20)
	dgst := digest.FromBytes(data)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Writer(ctx, fmt.Sprintf("w%d", i), dgst, int64(len(data)))
			if err != nil {
				errs[i] = err
				return
			}
			defer w.Close()
			if _, err := w.Write(data); err != nil {
				errs[i] = err
				return
			}
			errs[i] = w.Commit(ctx)
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, errdefs.ErrAlreadyExists):
		default:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers landed the blob, want 1", wins)
	}
	got, err := s.ReadAll(ctx, dgst, 2<<20)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("blob after the race: %d bytes, %v", len(got), err)
	}
	if ings, _ := s.Ingests(ctx); len(ings) != 0 {
		t.Errorf("ingests left: %+v", ings)
	}
}

func TestWalkDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	want := map[digest.Digest]int64{}
	for _, b := range []string{"a", "bb", "ccc"} {
		d := digest.FromString(b)
		want[d] = int64(len(b))
		if err := WriteBlob(ctx, s, b, strings.NewReader(b), d, int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	got := map[digest.Digest]int64{}
	if err := s.Walk(ctx, func(i Info) error { got[i.Digest] = i.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Walk = %v, want %v", got, want)
	}
	d := digest.FromString("bb")
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, d); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Delete = %v, want not found", err)
	}
	if _, err := s.ReaderAt(ctx, d); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ReaderAt after Delete = %v, want not found", err)
	}
}

// TestCrashMidWrite kills a writer process with SIGKILL halfway through a
// blob; the store must open, list the ingest as inactive, and then either
// resume it to a committed blob or have CleanIngests remove it.
func TestCrashMidWrite(t *testing.T) {
	for _, then := range []string{"resume", "clean"} {
		t.Run(then, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "CAPSA_CONTENT_CRASH_CHILD="+root)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			line, _ := bufio.NewReader(out).ReadString('\n')
			if line != "ready\n" {
				t.Fatalf("child said %q", line)
			}
			cmd.Process.Kill()
			cmd.Wait()

			s, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			ings, err := s.Ingests(ctx)
			if err != nil || len(ings) != 1 || ings[0].Ref != crashRef || ings[0].Active || ings[0].Offset != int64(len(crashBlob)/2) {
				t.Fatalf("Ingests() = %+v, %v; want one inactive %q at %d", ings, err, crashRef, len(crashBlob)/2)
			}
			dgst := digest.FromBytes(crashBlob)
			switch then {
			case "resume":
				if err := WriteBlob(ctx, s, crashRef, bytes.NewReader(crashBlob), dgst, int64(len(crashBlob))); err != nil {
					t.Fatal(err)
				}
				got, err := s.ReadAll(ctx, dgst, 2<<20)
				if err != nil || !bytes.Equal(got, crashBlob) {
					t.Fatalf("resumed blob: %d bytes, %v", len(got), err)
				}
			case "clean":
				removed, err := s.CleanIngests(ctx, 0)
				if err != nil || len(removed) != 1 || removed[0] != crashRef {
					t.Fatalf("CleanIngests() = %v, %v; want [%q]", removed, err, crashRef)
				}
				if names := blobNames(t, s); len(names) != 0 {
					t.Errorf("blobs: %v", names)
				}
			}
			if ings, _ := s.Ingests(ctx); len(ings) != 0 {
				t.Errorf("ingests left: %+v", ings)
			}
		})
	}
}

var _ io.Writer = Writer(nil)
