package images_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// markedImage commits "marked:v1" in d: busybox and a second layer with
// /etc/marker ("marked") and a setuid file, so that round trips carry two
// layers and a mode that is easy to lose.
func markedImage(t *testing.T, d *daemontest.Daemon) {
	t.Helper()
	d.ImportBusybox()
	d.MustCapsa("run", "--name", "marker", "busybox", "sh", "-c",
		"echo marked > /etc/marker && mkdir -p /opt/x && echo s > /opt/x/suid && chmod 4755 /opt/x/suid && ln -s ../etc/marker /opt/link")
	d.MustCapsa("commit", "marker", "marked:v1")
	d.MustCapsa("rm", "marker")
}

// exportTree is the tree of capsa export of a container of img in d.
func exportTree(t *testing.T, d *daemontest.Daemon, img string) map[string]string {
	t.Helper()
	id := d.MustCapsa("create", img, "true")
	defer d.Capsa("rm", "-f", id)
	file := filepath.Join(t.TempDir(), "export.tar")
	d.MustCapsa("export", "-o", file, id)
	return tarTree(t, file)
}

// layoutIndex reads index.json of the layout dir.
func layoutIndex(t *testing.T, dir string) ocispec.Index {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestSaveOCIDir: capsa save --format oci-dir writes an image layout that
// umoci unpacks (by the tag in ref.name) to the tree of capsa export and
// that skopeo copies to an oci-archive another capsad loads and runs.
func TestSaveOCIDir(t *testing.T) {
	needTool(t, "skopeo", "umoci")
	a := daemontest.Start(t)
	markedImage(t, a)
	want := exportTree(t, a, "marked:v1")
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "layout")
	a.MustCapsa("save", "--format", "oci-dir", "-o", dir, "marked:v1")
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		t.Errorf("oci-dir has docker-archive's manifest.json")
	}
	idx := layoutIndex(t, dir)
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1" ||
		idx.Manifests[0].Annotations["io.containerd.image.name"] != "docker.io/library/marked:v1" {
		t.Fatalf("index.json: %+v", idx)
	}

	bundle := filepath.Join(tmp, "bundle")
	runTool(t, "umoci", "unpack", "--image", dir+":v1", bundle)
	compareTrees(t, "umoci's rootfs", dirTree(t, filepath.Join(bundle, "rootfs")), "capsa export", want, 100)

	oa := filepath.Join(tmp, "skopeo.tar")
	runTool(t, "skopeo", "copy", "oci:"+dir+":v1", "oci-archive:"+oa+":skopeo/marked:v2")
	b := daemontest.Start(t)
	if out := b.MustCapsa("load", "-i", oa); !strings.Contains(out, "Loaded image: skopeo/marked:v2") {
		t.Fatalf("capsa load of skopeo's oci-archive: %q", out)
	}
	if got := b.MustCapsa("run", "--rm", "skopeo/marked:v2", "cat", "/etc/marker"); got != "marked" {
		t.Fatalf("run of the loaded image: %q", got)
	}
	compareTrees(t, "capsa export after skopeo", exportTree(t, b, "skopeo/marked:v2"), "capsa export", want, 100)

	// Into an existing directory that is not empty: refused, untouched.
	if r := a.Capsa("save", "--format", "oci-dir", "-o", dir, "marked:v1"); r.Code == 0 || !strings.Contains(r.Stderr, "not empty") {
		t.Errorf("save into a non-empty dir: %v", r)
	}
	if r := a.Capsa("save", "--format", "oci-dir", "marked:v1"); r.Code == 0 || !strings.Contains(r.Stderr, "needs -o") {
		t.Errorf("oci-dir without -o: %v", r)
	}
	if r := a.Capsa("save", "--format", "docker-dir", "-o", filepath.Join(tmp, "x"), "marked:v1"); r.Code == 0 || !strings.Contains(r.Stderr, `invalid format "docker-dir"`) {
		t.Errorf("unknown format: %v", r)
	}
}

// TestSaveOCIArchive: --format oci-archive is the OCI layout alone, which
// a fresh capsad loads with the same image ID and runs.
func TestSaveOCIArchive(t *testing.T) {
	a := daemontest.Start(t)
	a.ImportBusybox()
	id := a.MustCapsa("images", "-q", "--no-trunc", "busybox")
	file := filepath.Join(t.TempDir(), "oci.tar")
	a.MustCapsa("save", "--format", "oci-archive", "-o", file, "busybox")
	names := tarNames(t, file)
	if names["manifest.json"] || !names["index.json"] || !names["oci-layout"] {
		t.Fatalf("oci-archive files: %v", names)
	}
	b := daemontest.Start(t)
	if out := b.MustCapsa("load", "-i", file); !strings.Contains(out, "Loaded image: busybox:latest") {
		t.Fatalf("capsa load: %q", out)
	}
	if got := b.MustCapsa("images", "-q", "--no-trunc", "busybox"); got != id {
		t.Fatalf("loaded image ID %s, saved %s", got, id)
	}
	if got := b.MustCapsa("run", "--rm", "busybox", "echo", "oci"); got != "oci" {
		t.Fatalf("run: %q", got)
	}
}

// TestLoadSkopeoLayout: layouts skopeo makes from capsa's archives load
// from their directory into a fresh capsad and run: from a docker-archive
// with a bare tag (named as podman load names it, "mytag:latest"), from
// capsa's oci-dir with a full name, and with no name (untagged).
func TestLoadSkopeoLayout(t *testing.T) {
	needTool(t, "skopeo")
	a := daemontest.Start(t)
	markedImage(t, a)
	want := exportTree(t, a, "marked:v1")
	tmp := t.TempDir()
	arc := filepath.Join(tmp, "marked.tar")
	a.MustCapsa("save", "-o", arc, "marked:v1")
	capsaDir := filepath.Join(tmp, "capsa-layout")
	a.MustCapsa("save", "--format", "oci-dir", "-o", capsaDir, "marked:v1")

	tagged := filepath.Join(tmp, "tagged")
	runTool(t, "skopeo", "copy", "docker-archive:"+arc, "oci:"+tagged+":mytag")
	named := filepath.Join(tmp, "named")
	runTool(t, "skopeo", "copy", "oci:"+capsaDir+":v1", "oci:"+named+":example.com/team/marked:v3")

	b := daemontest.Start(t)
	for _, tc := range []struct{ dir, image string }{
		{tagged, "mytag:latest"},
		{named, "example.com/team/marked:v3"},
	} {
		if out := b.MustCapsa("load", "-i", tc.dir); !strings.Contains(out, "Loaded image: "+tc.image) {
			t.Fatalf("capsa load -i %s: %q, want %s", tc.dir, out, tc.image)
		}
		if got := b.MustCapsa("run", "--rm", tc.image, "cat", "/etc/marker"); got != "marked" {
			t.Fatalf("run %s: %q", tc.image, got)
		}
		compareTrees(t, "capsa export of "+tc.image, exportTree(t, b, tc.image), "the original's", want, 100)
	}

	// Without a name in index.json: loaded untagged, run by its ID.
	untagged := filepath.Join(tmp, "untagged")
	runTool(t, "skopeo", "copy", "docker-archive:"+arc, "oci:"+untagged)
	c := daemontest.Start(t)
	out := c.MustCapsa("load", "-i", untagged)
	id, ok := strings.CutPrefix(out, "Loaded image ID: ")
	if !ok {
		t.Fatalf("capsa load of an unnamed layout: %q", out)
	}
	if got := c.MustCapsa("run", "--rm", id, "cat", "/etc/marker"); got != "marked" {
		t.Fatalf("run %s: %q", id, got)
	}
	if got := c.MustCapsa("images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"); got != id+" <none>:<none>" {
		t.Fatalf("images after an untagged load: %q, want %s <none>:<none>", got, id)
	}
}

// TestLoadOCIDirTampered: a layout whose layer, config or manifest blob has
// one byte changed fails to load with a one-line error naming the blob, and
// the images stay as they were.
func TestLoadOCIDirTampered(t *testing.T) {
	a := daemontest.Start(t)
	a.ImportBusybox()
	src := filepath.Join(t.TempDir(), "layout")
	a.MustCapsa("save", "--format", "oci-dir", "-o", src, "busybox")
	idx := layoutIndex(t, src)
	mdg := idx.Manifests[0].Digest
	var m ocispec.Manifest
	mb, err := os.ReadFile(filepath.Join(src, "blobs", "sha256", mdg.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}

	b := daemontest.Start(t)
	b.ImportBusybox()
	// Not the table: its CREATED column moves with the clock.
	images := func() string {
		return b.MustCapsa("images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
	}
	before := images()
	for _, tc := range []struct {
		name string
		blob digest.Digest
	}{
		{"Layer", m.Layers[0].Digest},
		{"Config", m.Config.Digest},
		{"Manifest", mdg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layout")
			runTool(t, "cp", "-a", src, dir)
			blob := filepath.Join(dir, "blobs", "sha256", tc.blob.Encoded())
			body, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			body[len(body)/2] ^= 0x01
			if err := os.WriteFile(blob, body, 0o644); err != nil {
				t.Fatal(err)
			}
			r := b.Capsa("load", "-i", dir)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.blob.String()) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Fatalf("capsa load of a layout with %s tampered: want a one-line error naming %s, got %v", tc.name, tc.blob, r)
			}
			t.Logf("error: %s", strings.TrimSpace(r.Stderr))
			if after := images(); after != before {
				t.Fatalf("images changed:\n%s\nwant\n%s", after, before)
			}
		})
	}
}
