package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzApplyLayer applies arbitrary tars with ApplyLayer and ApplyUpper
// (upper) into a fresh root beside a sentinel directory: whatever the
// input, nothing outside the root may be created or changed, and nothing
// may panic. Errors are expected and ignored. Seeded with the hostile
// layers of TestApplyHostile.
//
//	go test -run XXX -fuzz FuzzApplyLayer -fuzztime 60s ./internal/image/
func FuzzApplyLayer(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("applying layers sets owners and makes devices: run as root")
	}
	base := f.TempDir()
	roots, outside := filepath.Join(base, "roots"), filepath.Join(base, "outside")
	for _, d := range []string{roots, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		f.Fatal(err)
	}
	for _, c := range hostileCases(f, outside) {
		if len(c.tar) > 64<<10 {
			continue // the 2 MiB PAX record: too big to mutate usefully
		}
		f.Add(c.tar, false)
		f.Add(c.tar, true)
	}
	lim := Limits{MaxBytes: 1 << 20, MaxEntries: 256, MaxPath: 1024}
	f.Fuzz(func(t *testing.T, layer []byte, upper bool) {
		root, err := os.MkdirTemp(roots, "root-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(root)
		apply := ApplyLayer
		if upper {
			apply = ApplyUpper
		}
		apply(context.Background(), root, bytes.NewReader(layer), lim)
		if err := sentinelChanged(base, outside); err != nil {
			t.Fatal(err)
		}
		if ents, _ := os.ReadDir(roots); len(ents) != 1 {
			t.Fatalf("%d entries beside the root, want none", len(ents)-1)
		}
	})
}
