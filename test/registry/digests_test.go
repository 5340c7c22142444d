package registry_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestRepoDigests: a pull records NAME@<manifest digest>, shown by image
// inspect (capsa's and the docker CLI's) and images --digests; a pull by
// digest can be run by digest; rmi NAME@DIGEST removes only that
// reference; rmi of the last tag takes the repository's digests with it;
// a push records the digest the registry has; an image a newer pull moves
// the tag away from keeps its repo digest.
func TestRepoDigests(t *testing.T) {
	reg := startRegistry(t)
	ref := reg.Host + "/dig"
	push(t, ref+":v1", busyboxImage(t, runtime.GOARCH, "v1"))
	d := daemontest.Start(t)

	out := d.MustCapsa("pull", ref+":v1")
	i := strings.Index(out, "Digest: ")
	if i < 0 {
		t.Fatalf("pull printed no digest:\n%s", out)
	}
	dgst := strings.Fields(out[i+len("Digest: "):])[0]
	id := d.MustCapsa("images", "-q", "--no-trunc", ref+":v1")
	if id != dgst {
		t.Fatalf("image ID %s, pulled digest %s", id, dgst)
	}
	if got := d.MustCapsa("image", "inspect", "--format", "{{json .RepoDigests}} {{json .RepoTags}}", ref+":v1"); got != `["`+ref+"@"+dgst+`"] ["`+ref+`:v1"]` {
		t.Fatalf("inspect RepoDigests RepoTags: %s", got)
	}
	if r := d.Docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref+":v1"); r.Code != 0 || r.Stdout != `["`+ref+"@"+dgst+`"]`+"\n" {
		t.Fatalf("docker image inspect: %v", r)
	}
	table := d.MustCapsa("images", "--digests")
	lines := strings.Split(table, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "REPOSITORY") || !strings.Contains(lines[0], "  DIGEST  ") {
		t.Fatalf("images --digests:\n%s", table)
	}
	if f := strings.Fields(lines[1]); len(f) < 4 || f[0] != ref || f[1] != "v1" || f[2] != dgst || f[3] != id[7:19] {
		t.Fatalf("images --digests row: %q", lines[1])
	}
	if r := d.Docker("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"); r.Code != 0 || r.Stdout != ref+" v1 "+dgst+"\n" {
		t.Fatalf("docker images --digests: %v", r)
	}

	// Pull by digest, run by digest.
	d.MustCapsa("rmi", ref+":v1")
	if got := d.MustCapsa("images", "-q"); got != "" {
		t.Fatalf("rmi of the last tag left %q (its repo digest should go with it)", got)
	}
	byDigest := ref + "@" + dgst
	if out := d.MustCapsa("pull", byDigest); !strings.HasSuffix(out, byDigest) {
		t.Fatalf("pull by digest:\n%s", out)
	}
	if got := d.MustCapsa("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"); got != ref+" <none> "+dgst {
		t.Fatalf("images after pull by digest: %q", got)
	}
	if got := d.MustCapsa("run", "--rm", byDigest, "cat", "/etc/name"); got != "v1" {
		t.Fatalf("run by digest: %q", got)
	}
	d.MustCapsa("pull", ref+":v1")
	if got := d.MustCapsa("images", "--format", "{{.Repository}}:{{.Tag}}"); got != ref+":v1" {
		t.Fatalf("images after pull by tag of the same image: %q", got)
	}
	r := d.Capsa("rmi", byDigest)
	if r.Code != 0 || r.Stdout != "Untagged: "+byDigest+"\n" {
		t.Fatalf("rmi %s: %v", byDigest, r)
	}
	if got := d.MustCapsa("image", "inspect", "--format", "{{len .RepoDigests}} {{.RepoTags}}", ref+":v1"); got != "0 ["+ref+":v1]" {
		t.Fatalf("after rmi of the digest: %q", got)
	}

	// Push records the digest the registry has; it is the same manifest.
	d.MustCapsa("tag", ref+":v1", ref+":pushed")
	pushOut := d.MustCapsa("push", ref+":pushed")
	if !strings.Contains(pushOut, "pushed: digest: "+dgst) {
		t.Fatalf("push:\n%s", pushOut)
	}
	if got := d.MustCapsa("image", "inspect", "--format", "{{json .RepoDigests}}", ref+":v1"); got != `["`+byDigest+`"]` {
		t.Fatalf("RepoDigests after push: %s", got)
	}

	// A newer v1: the old image keeps its repo digest, untagged.
	push(t, ref+":v1", busyboxImage(t, runtime.GOARCH, "v1-new"))
	d.MustCapsa("rmi", ref+":pushed")
	d.MustCapsa("pull", ref+":v1")
	got := d.MustCapsa("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}")
	if !strings.Contains(got, ref+" <none> "+dgst+" "+id[7:19]) {
		t.Fatalf("the image v1 moved away from: images --digests:\n%s", got)
	}
	if got := d.MustCapsa("images", "-q", "--no-trunc", "-f", "dangling=true"); got != id {
		t.Fatalf("images -f dangling=true: %q, want %s", got, id)
	}
	if got := d.MustCapsa("run", "--rm", byDigest, "cat", "/etc/name"); got != "v1" {
		t.Fatalf("run of the old image by digest: %q", got)
	}
}
