package images_test

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// A file tree, as the round trips compare it: path (relative, no leading
// "./") → "file SIZE MODE SHA256", "link TARGET" or "dir MODE". Modes are
// the permission bits with setuid, setgid and sticky.

func fileEntry(size int64, mode fs.FileMode, sum string) string {
	return fmt.Sprintf("file %d %o %s", size, mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), sum)
}

func dirEntry(mode fs.FileMode) string {
	return fmt.Sprintf("dir %o", mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
}

// dirTree is the tree under root.
func dirTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
			out[rel] = fileEntry(fi.Size(), fi.Mode(), hex.EncodeToString(h.Sum(nil)))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case fi.IsDir():
			out[rel] = dirEntry(fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tarTree is the tree of the tar archive at file (hard links as the file
// they link to).
func tarTree(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(path.Clean(strings.TrimPrefix(h.Name, "./")), "/")
		if name == "." || name == "" {
			continue
		}
		fi := h.FileInfo()
		switch h.Typeflag {
		case tar.TypeReg:
			s := sha256.New()
			if _, err := io.Copy(s, tr); err != nil {
				t.Fatal(err)
			}
			out[name] = fileEntry(h.Size, fi.Mode(), hex.EncodeToString(s.Sum(nil)))
		case tar.TypeLink:
			out[name] = out[strings.TrimPrefix(path.Clean(h.Linkname), "./")]
		case tar.TypeSymlink:
			out[name] = "link " + h.Linkname
		case tar.TypeDir:
			out[name] = dirEntry(fi.Mode())
		}
	}
}

// compareTrees fails t on every difference between got and want; it
// wants at least min regular files and symlinks.
func compareTrees(t *testing.T, gotName string, got map[string]string, wantName string, want map[string]string, min int) {
	t.Helper()
	n := 0
	for _, e := range want {
		if !strings.HasPrefix(e, "dir ") {
			n++
		}
	}
	if n < min {
		t.Fatalf("%s has %d files and links, fewer than %d", wantName, n, min)
	}
	var diffs []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: in %s (%s), not in %s", p, wantName, w, gotName))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: %s %s, %s %s", p, gotName, g, wantName, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: in %s (%s), not in %s", p, gotName, g, wantName))
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
	if len(diffs) == 0 {
		t.Logf("%s and %s agree on %d entries (%d files and links)", gotName, wantName, len(want), n)
	}
}

// needTool skips the test when a tool of the round trip is missing.
func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s is not installed (apt-get install skopeo umoci podman)", n)
		}
	}
}

// runTool runs a tool of the round trip and gives its output; it fails t
// on an error.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
