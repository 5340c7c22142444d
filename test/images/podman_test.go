package images_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// podman is a podman with storage of its own under a test's temp dir.
//
// Every podman command runs in a private mount namespace (unshare -m)
// without /sys/fs/cgroup/unified: this host's cgroups are hybrid, which
// crun 1.8 refuses ("cgroups in hybrid mode not supported"), and runc
// through podman needs cgroups podman would create in the host's
// hierarchy (libpod_parent). Without the cgroup2 mount crun sees a v1
// host, and with --cgroups=disabled neither it nor conmon makes a cgroup.
// The namespace also keeps podman's overlay mounts off the host: they go
// with it whatever happens. Containers get no network (no bridge, no
// firewall rules) and rlimits no higher than the test's own (podman's
// defaults raise RLIMIT_NOFILE and RLIMIT_NPROC, which needs
// CAP_SYS_RESOURCE, which this host's root does not have).
type podman struct {
	t    *testing.T
	base []string
	dir  string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	needTool(t, "podman", "unshare")
	// Not t.TempDir: podman wants a runroot of at most 50 characters.
	dir, err := os.MkdirTemp("", "capsa-pm")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{t: t, dir: dir, base: []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "overlay",
		"--events-backend", "none", "--cgroup-manager", "cgroupfs",
	}}
	t.Cleanup(func() {
		if _, err := p.cmd("system", "reset", "-f").CombinedOutput(); err != nil {
			t.Errorf("podman system reset: %v", err)
		}
		if m := daemontest.Mounts(dir); len(m) > 0 {
			t.Errorf("podman left mounts: %v", m)
			return // removing would go through them
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	return p
}

const unshareScript = `mount --make-rprivate / && { ! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified; } && exec "$0" "$@"`

func (p *podman) cmd(args ...string) *exec.Cmd {
	full := append([]string{"-m", "sh", "-c", unshareScript, "podman"}, p.base...)
	return exec.Command("unshare", append(full, args...)...)
}

// run runs podman and gives its standard output; it fails the test on an
// error.
func (p *podman) run(args ...string) string {
	p.t.Helper()
	cmd := p.cmd(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// containerArgs are podman run's and create's options on this host (see
// podman).
var containerArgs = []string{"--cgroups=disabled", "--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// exportTree is the tree of podman export of a container of img.
func (p *podman) exportTree(img string) map[string]string {
	p.t.Helper()
	id := p.run(append(append([]string{"create"}, containerArgs...), img, "true")...)
	file := filepath.Join(p.t.TempDir(), "podman-export.tar")
	p.run("export", "-o", file, id)
	p.run("rm", id)
	return tarTree(p.t, file)
}

// TestCapsaSavePodmanLoad: capsa save's docker-archive and oci-archive
// load in podman under the image's name; podman runs the image, and
// podman export of a container of it has the tree of capsa export.
func TestCapsaSavePodmanLoad(t *testing.T) {
	needTool(t, "podman", "unshare")
	d := daemontest.Start(t)
	markedImage(t, d)
	want := exportTree(t, d, "marked:v1")
	for _, format := range []string{"docker-archive", "oci-archive"} {
		t.Run(format, func(t *testing.T) {
			p := newPodman(t)
			file := filepath.Join(t.TempDir(), "marked.tar")
			d.MustCapsa("save", "--format", format, "-o", file, "marked:v1")
			if out := p.run("load", "-i", file); !strings.Contains(out, "Loaded image: docker.io/library/marked:v1") {
				t.Fatalf("podman load: %q", out)
			}
			if got := p.run(append(append([]string{"run", "--rm"}, containerArgs...), "marked:v1", "cat", "/etc/marker")...); got != "marked" {
				t.Fatalf("podman run: %q", got)
			}
			compareTrees(t, "podman export", p.exportTree("marked:v1"), "capsa export", want, 100)
		})
	}
}

// TestPodmanSaveCapsaLoad: podman save in each format podman and capsa
// share (docker-archive, oci-archive, oci-dir) loads in a fresh capsad
// under podman's name; it runs and has the tree of the original.
func TestPodmanSaveCapsaLoad(t *testing.T) {
	needTool(t, "podman", "unshare")
	a := daemontest.Start(t)
	markedImage(t, a)
	want := exportTree(t, a, "marked:v1")
	arc := filepath.Join(t.TempDir(), "marked.tar")
	a.MustCapsa("save", "-o", arc, "marked:v1")
	p := newPodman(t)
	p.run("load", "-i", arc)
	const name = "localhost/podman/marked:v2"
	p.run("tag", "marked:v1", name)

	for _, format := range []string{"docker-archive", "oci-archive", "oci-dir"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "saved")
			p.run("save", "--format", format, "-o", out, name)
			if format == "oci-dir" {
				if fi, err := os.Stat(out); err != nil || !fi.IsDir() {
					t.Fatalf("podman save --format oci-dir made no directory: %v", err)
				}
			}
			b := daemontest.Start(t)
			if got := b.MustCapsa("load", "-i", out); !strings.Contains(got, "Loaded image: "+name) {
				t.Fatalf("capsa load of podman's %s: %q", format, got)
			}
			if got := b.MustCapsa("run", "--rm", name, "cat", "/etc/marker"); got != "marked" {
				t.Fatalf("capsa run: %q", got)
			}
			compareTrees(t, "capsa export after podman", exportTree(t, b, name), "the original's", want, 100)
		})
	}
}
