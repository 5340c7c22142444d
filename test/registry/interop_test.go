package registry_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/daemontest"
)

// needTool skips the test when a tool of the round trip is missing.
func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s is not installed (scripts/install-bench-deps.sh: apt-get install skopeo umoci)", n)
		}
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestSkopeoPushCapsaPull: an image that skopeo copies from an OCI layout
// into the registry is pulled and run by capsa.
func TestSkopeoPushCapsaPull(t *testing.T) {
	needTool(t, "skopeo")
	reg := startRegistry(t)
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img := ociBusyboxImage(t, "from-skopeo")
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/skopeo/busybox:v1"
	runTool(t, "skopeo", "copy", "--dest-tls-verify=false", "oci:"+dir+":v1", "docker://"+ref)

	d := daemontest.Start(t)
	if r := d.Capsa("pull", ref); r.Code != 0 {
		t.Fatalf("capsa pull %s: %v", ref, r)
	}
	if r := d.Capsa("run", "--rm", ref, "cat", "/etc/name"); r.Code != 0 || r.Stdout != "from-skopeo\n" {
		t.Fatalf("capsa run %s: %v", ref, r)
	}
	if r := d.Capsa("run", "--rm", ref, "echo", "ok"); r.Code != 0 || r.Stdout != "ok\n" {
		t.Fatalf("capsa run %s: %v", ref, r)
	}
}

// TestCapsaPushSkopeoPullUmociUnpack: an image that capsa pushes is
// copied by skopeo into an OCI layout and unpacked by umoci; the unpacked
// rootfs has the file tree of capsa export of a container of that image.
func TestCapsaPushSkopeoPullUmociUnpack(t *testing.T) {
	needTool(t, "skopeo", "umoci")
	reg := startRegistry(t)
	d := daemontest.Start(t)
	d.ImportBusybox()
	ref := reg.Host + "/capsa/busybox:v1"
	d.MustCapsa("tag", "busybox", ref)
	if r := d.Capsa("push", ref); r.Code != 0 {
		t.Fatalf("capsa push %s: %v", ref, r)
	}

	tmp := t.TempDir()
	dir := filepath.Join(tmp, "oci")
	runTool(t, "skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+dir+":v1")
	bundle := filepath.Join(tmp, "bundle")
	runTool(t, "umoci", "unpack", "--image", dir+":v1", bundle)
	got := dirTree(t, filepath.Join(bundle, "rootfs"))

	id := strings.TrimSpace(d.MustCapsa("create", ref, "true"))
	t.Cleanup(func() { d.Capsa("rm", "-f", id) })
	exported := filepath.Join(tmp, "export.tar")
	d.MustCapsa("export", "-o", exported, id)
	want := tarTree(t, exported)

	if len(got) < 100 || len(want) < 100 {
		t.Fatalf("umoci's rootfs has %d entries, capsa export %d: too few for busybox", len(got), len(want))
	}
	t.Logf("%d regular files and symlinks compared", len(want))
	for p, e := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: in capsa export (%s), not in umoci's rootfs", p, e)
		} else if g != e {
			t.Errorf("%s: umoci %s, capsa export %s", p, g, e)
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: in umoci's rootfs (%s), not in capsa export", p, g)
		}
	}
}

// ociBusyboxImage is busyboxImage with OCI media types throughout (skopeo's
// oci: transport finds only OCI manifests in a layout).
func ociBusyboxImage(t *testing.T, name string) v1.Image {
	t.Helper()
	var layers []v1.Layer
	for _, b := range [][]byte{busyboxtest.Tar(t, "sh", "echo", "cat", "ls"), markerTar(t, "etc/name", name+"\n")} {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	return stackImage(t, base, runtime.GOARCH, []string{"sh"}, layers...)
}

// dirTree lists a directory's regular files and symlinks: path →
// "file SIZE MODE" or "link TARGET".
func dirTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode().IsRegular():
			out[rel] = fmt.Sprintf("file %d %o", fi.Size(), fi.Mode().Perm()|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tarTree is dirTree of a tar archive.
func tarTree(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "/"))
		mode := fs.FileMode(h.Mode).Perm()
		if h.Mode&04000 != 0 {
			mode |= fs.ModeSetuid
		}
		if h.Mode&02000 != 0 {
			mode |= fs.ModeSetgid
		}
		if h.Mode&01000 != 0 {
			mode |= fs.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeReg:
			out[name] = fmt.Sprintf("file %d %o", h.Size, mode)
		case tar.TypeSymlink:
			out[name] = "link " + h.Linkname
		}
	}
	return out
}
