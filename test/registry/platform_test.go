package registry_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestPullPlatform: pull --platform (docker's platform query parameter)
// picks that platform's manifest of an index; a platform the index lacks
// is docker's "no matching manifest" error, a malformed one a 400 with
// containerd's wording, and nothing is stored for either.
func TestPullPlatform(t *testing.T) {
	reg := startRegistry(t)
	ref, other := pushMultiArch(t, reg)
	d := daemontest.Start(t)

	for _, c := range []struct{ platform, want string }{
		{"linux/xyz", "no matching manifest for linux/xyz in the manifest list entries"},
		{"xyz", `"xyz": unknown operating system or architecture: invalid argument`},
		{"linux/a/b/c", `"linux/a/b/c": cannot parse platform specifier: invalid argument`},
		{"linux/a$b", `"a$b" is an invalid component of "linux/a$b"`},
	} {
		res := d.Capsa("pull", "--platform", c.platform, ref)
		if res.Code == 0 || !strings.Contains(res.Stderr, c.want) {
			t.Errorf("pull --platform %s: want an error with %q, got %v", c.platform, c.want, res)
		}
	}
	if got := d.MustCapsa("images", "-q"); got != "" {
		t.Fatalf("failed pulls left images: %q", got)
	}
	// dockerd's status code for a bad platform: 400.
	if res := d.Docker("pull", "--platform", "xyz", ref); res.Code == 0 || !strings.Contains(res.Stderr, "unknown operating system or architecture") {
		t.Errorf("docker pull --platform xyz: %v", res)
	}

	out := d.MustCapsa("pull", "--platform", "linux/"+other, ref)
	if !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Fatalf("pull --platform linux/%s:\n%s", other, out)
	}
	if got := d.MustCapsa("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref); got != "linux/"+other {
		t.Fatalf("inspect after pull --platform linux/%s: %q", other, got)
	}
	// The host's platform of the same index: its own manifest is fetched
	// and runs.
	d.MustCapsa("pull", "--platform", "linux/"+runtime.GOARCH, ref)
	if got := d.MustCapsa("run", "--rm", ref, "cat", "/etc/arch"); got != runtime.GOARCH {
		t.Fatalf("run after pull of the host's platform: %q", got)
	}

	// run and create of a missing image pull it for their --platform.
	d2 := daemontest.Start(t)
	if res := d2.Capsa("create", "--platform", "linux/mips64", ref); res.Code != 125 || !strings.Contains(res.Stderr, "no matching manifest for linux/mips64") {
		t.Errorf("create --platform linux/mips64 of a missing image: %v", res)
	}
	if got := d2.MustCapsa("run", "--rm", "--platform", "linux/"+runtime.GOARCH, ref, "cat", "/etc/arch"); got != runtime.GOARCH {
		t.Errorf("run --platform linux/%s of a missing image: %q", runtime.GOARCH, got)
	}
}
