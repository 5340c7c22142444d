package registry_test

import (
	"archive/tar"
	"io"
	"testing"
)

type tarWriter struct{ tw *tar.Writer }

func newTarWriter(w io.Writer) tarWriter { return tarWriter{tar.NewWriter(w)} }

// file writes one regular file (and closes the archive).
func (w tarWriter) file(t *testing.T, path, body string) {
	t.Helper()
	if err := w.tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.tw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := w.tw.Close(); err != nil {
		t.Fatal(err)
	}
}
