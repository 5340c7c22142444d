package cli_test

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCpBothWaysAndDiff(t *testing.T) {
	ensureImage(t)
	n := name(t, "cp")
	capsa(t, "run", "-d", "--name", n, "-l", testLabel, testImage, "sleep", "300")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d", "sub", "y"), []byte("why\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Into the container: into a directory, to a new name, a whole tree.
	capsa(t, "cp", filepath.Join(dir, "f.txt"), n+":/tmp/")
	capsa(t, "cp", filepath.Join(dir, "f.txt"), n+":/tmp/renamed.txt")
	capsa(t, "cp", filepath.Join(dir, "d"), n+":/tmp/dd")
	if got := capsa(t, "exec", n, "cat", "/tmp/f.txt", "/tmp/renamed.txt", "/tmp/dd/sub/y"); got != "hello\nhello\nwhy\n" {
		t.Errorf("copied in: %q", got)
	}

	// A tar on stdin.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	_ = tw.WriteHeader(&tar.Header{Name: "fromtar", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("tar"))
	_ = tw.Close()
	if r := runCapsa(t, bytes.NewReader(tb.Bytes()), "cp", "-", n+":/root"); r.code != 0 {
		t.Fatalf("cp - : exit %d %s", r.code, r.stderr)
	}
	if got := capsa(t, "exec", n, "cat", "/root/fromtar"); got != "tar" {
		t.Errorf("cp - : %q", got)
	}

	// Out of the container.
	out := t.TempDir()
	capsa(t, "cp", n+":/tmp/dd", filepath.Join(out, "back"))
	if b, err := os.ReadFile(filepath.Join(out, "back", "sub", "y")); err != nil || string(b) != "why\n" {
		t.Errorf("copied out tree: %q %v", b, err)
	}
	capsa(t, "cp", n+":/tmp/renamed.txt", out)
	if b, err := os.ReadFile(filepath.Join(out, "renamed.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("copied out file: %q %v", b, err)
	}
	tarOut := capsa(t, "cp", n+":/tmp/f.txt", "-")
	tr := tar.NewReader(strings.NewReader(tarOut))
	h, err := tr.Next()
	if err != nil || h.Name != "f.txt" {
		t.Fatalf("cp to -: first entry %v %v", h, err)
	}
	if b, _ := io.ReadAll(tr); string(b) != "hello\n" {
		t.Errorf("cp to -: %q", b)
	}

	r := runCapsa(t, nil, "cp", n+":/no/such", out)
	if r.code != 1 || !strings.Contains(r.stderr, "/no/such") {
		t.Errorf("cp of a missing path: exit %d stderr %q", r.code, r.stderr)
	}

	diff := capsa(t, "diff", n)
	for _, want := range []string{"C /tmp", "A /tmp/f.txt", "A /tmp/renamed.txt", "A /tmp/dd/sub/y", "C /root", "A /root/fromtar"} {
		if !strings.Contains("\n"+diff, "\n"+want+"\n") {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
}
