package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

var anonVolume = regexp.MustCompile(`^[0-9a-f]{64}$`)

// volumeNames lists the daemon's volumes.
func volumeNames(d *daemontest.Daemon) []string {
	out := strings.TrimSpace(d.MustCapsa("volume", "ls", "-q"))
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// TestFeatureVolumes: named volumes outlive containers, are seeded from
// the image on first use, are shared, can be mounted read only, and are
// not removed while used; anonymous volumes go with rm -v or prune.
func TestFeatureVolumes(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	// inspect finds volumes too, as docker's (by type or after
	// containers and images).
	d.MustCapsa("volume", "create", "insp")
	for _, args := range [][]string{{"inspect", "-f", "{{.Name}} {{.Driver}}", "insp"}, {"inspect", "--type", "volume", "-f", "{{.Name}} {{.Driver}}", "insp"}} {
		if out := strings.TrimSpace(d.MustCapsa(args...)); out != "insp local" {
			t.Errorf("capsa %s: %q", strings.Join(args, " "), out)
		}
	}
	d.MustCapsa("volume", "rm", "insp")

	// Data outlives the container.
	d.MustCapsa("run", "--name", "w1", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f")
	d.MustCapsa("rm", "w1")
	if out := strings.TrimSpace(d.MustCapsa("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f")); out != "kept" {
		t.Errorf("data after rm: got %q, want kept", out)
	}
	mp := strings.TrimSpace(d.MustCapsa("volume", "inspect", "-f", "{{.Mountpoint}} {{.Driver}} {{.Scope}}", "data"))
	if want := filepath.Join(d.DataRoot, "volumes", "data", "_data") + " local local"; mp != want {
		t.Errorf("inspect: got %q, want %q", mp, want)
	}

	// Copy-up: an empty volume gets the image's content; symlinks stay
	// symlinks; nocopy keeps it empty.
	if out := d.MustCapsa("run", "--rm", "-v", "etc:/etc", "busybox", "cat", "/etc/passwd"); !strings.Contains(out, "root:") {
		t.Errorf("copy-up /etc: passwd is %q", out)
	}
	d.MustCapsa("run", "--rm", "--mount", "type=volume,source=bin,target=/bin", "busybox", "true")
	if l, err := os.Readlink(filepath.Join(d.DataRoot, "volumes", "bin", "_data", "sh")); err != nil || l != "busybox" {
		t.Errorf("copy-up /bin: sh links to %q, %v; want busybox", l, err)
	}
	// (/etc/hostname, hosts and resolv.conf are the container's own,
	// bound over the volume as docker does: not the image's.)
	ownEtc := strings.NewReplacer("hostname", "", "hosts", "", "resolv.conf", "")
	if out := strings.Join(strings.Fields(ownEtc.Replace(d.MustCapsa("run", "--rm", "-v", "empty:/etc:nocopy", "busybox", "ls", "-A", "/etc"))), " "); out != "" {
		t.Errorf("nocopy: /etc has %q", out)
	}
	// A volume with content is not seeded again.
	if out := strings.Join(strings.Fields(ownEtc.Replace(d.MustCapsa("run", "--rm", "-v", "data:/etc", "busybox", "ls", "/etc"))), " "); out != "f" {
		t.Errorf("used volume over /etc: got %q, want f", out)
	}

	// Two containers share one volume: one writes, the other reads.
	d.MustCapsa("run", "-d", "--name", "writer", "-v", "shared:/s", "busybox", "sh", "-c", "echo from-writer > /s/f; sleep 60")
	writerID := strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{.Id}}", "writer"))
	var got string
	for range 50 {
		r := d.Capsa("run", "--rm", "-v", "shared:/s", "busybox", "cat", "/s/f")
		if got = strings.TrimSpace(r.Stdout); got == "from-writer" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "from-writer" {
		t.Errorf("reader: got %q, want from-writer", got)
	}
	// :ro refuses writes.
	if r := d.Capsa("run", "--rm", "-v", "shared:/s:ro", "busybox", "touch", "/s/x"); r.Code == 0 {
		t.Errorf("write to :ro volume: %v", r)
	}
	if r := d.Capsa("run", "--rm", "--mount", "type=volume,src=shared,dst=/s,readonly", "busybox", "touch", "/s/x"); r.Code == 0 {
		t.Errorf("write to readonly --mount: %v", r)
	}
	// In use: 409 with docker's text, force or not.
	wantInUse := fmt.Sprintf("remove shared: volume is in use - [%s]", writerID)
	for _, force := range []string{"0", "1"} {
		code, body := rawHTTP(t, d, "DELETE /volumes/shared?force="+force+" HTTP/1.1\r\nHost: capsa\r\nConnection: close\r\n\r\n")
		if code != 409 || jsonMessage(body) != wantInUse {
			t.Errorf("rm in-use volume (force=%s): %d %q, want 409 %q", force, code, body, wantInUse)
		}
	}
	if r := d.Capsa("volume", "rm", "shared"); r.Code != 1 || !strings.Contains(r.Stderr, "volume is in use") {
		t.Errorf("capsa volume rm in use: %v", r)
	}
	d.MustCapsa("rm", "-f", "writer")
	d.MustCapsa("volume", "rm", "shared")

	// Anonymous volumes: -v /data, kept by rm, removed by rm -v and by prune.
	before := len(volumeNames(d))
	d.MustCapsa("create", "--name", "a1", "-v", "/data", "busybox")
	d.MustCapsa("create", "--name", "a2", "-v", "/data", "busybox")
	var anon []string
	for _, n := range volumeNames(d) {
		if anonVolume.MatchString(n) {
			anon = append(anon, n)
		}
	}
	if len(anon) != 2 || len(volumeNames(d)) != before+2 {
		t.Fatalf("anonymous volumes: %q", volumeNames(d))
	}
	d.MustCapsa("rm", "-v", "a1")
	d.MustCapsa("rm", "a2")
	var left []string
	for _, n := range volumeNames(d) {
		if anonVolume.MatchString(n) {
			left = append(left, n)
		}
	}
	if len(left) != 1 {
		t.Fatalf("after rm -v a1 and rm a2: anonymous volumes %q, want one", left)
	}
	if out := d.MustCapsa("volume", "prune", "-f"); !strings.Contains(out, left[0]) {
		t.Errorf("prune: %q does not name %s", out, left[0])
	}
	// --rm takes its anonymous volumes along.
	d.MustCapsa("run", "--rm", "-v", "/data", "busybox", "true")
	for _, n := range volumeNames(d) {
		if anonVolume.MatchString(n) {
			t.Errorf("anonymous volume %s left by prune or --rm", n)
		}
	}
	// Named ones stay through prune unless -a.
	if n := len(volumeNames(d)); n != before {
		t.Errorf("after prune: %d volumes, want %d", n, before)
	}
	d.MustCapsa("volume", "prune", "-af")
	if names := volumeNames(d); len(names) != 0 {
		t.Errorf("after prune -a: %q", names)
	}
}

// TestFeatureVolumesBadInput: bad names and paths are refused with
// docker's errors, and nothing is made.
func TestFeatureVolumesBadInput(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	for _, args := range [][]string{
		{"run", "--rm", "-v", "bad$name:/x", "busybox", "true"},
		{"run", "--rm", "-v", "x:/a/../b", "busybox", "true"},
		{"run", "--rm", "--mount", "type=volume,source=ok,target=/a/../b", "busybox", "true"},
		{"run", "--rm", "-v", "../up:/x", "busybox", "true"},
	} {
		if r := d.Capsa(args...); r.Code != 125 {
			t.Errorf("%q: %v, want exit 125", args, r)
		}
	}
	if r := d.Capsa("volume", "create", "a/b"); r.Code != 1 || !strings.Contains(r.Stderr, "includes invalid characters for a local volume name") {
		t.Errorf("volume create a/b: %v", r)
	}
	if r := d.Capsa("volume", "rm", "nosuch"); r.Code != 1 || !strings.Contains(r.Stderr, "no such volume") {
		t.Errorf("volume rm nosuch: %v", r)
	}
	d.MustCapsa("volume", "rm", "-f", "nosuch")
	if names := volumeNames(d); len(names) != 0 {
		t.Errorf("volumes after bad input: %q", names)
	}
	if ids := d.IDs(); len(ids) != 0 {
		t.Errorf("containers after bad input: %q", ids)
	}
	code, body := rawHTTP(t, d, post("/volumes/create", "application/json", `{"Name":"x/y"}`))
	if code != 400 {
		t.Errorf("POST /volumes/create x/y: %d %s", code, body)
	}
	code, body = rawHTTP(t, d, get("/volumes/nosuch"))
	if code != 404 || jsonMessage(body) != "get nosuch: no such volume" {
		t.Errorf("GET /volumes/nosuch: %d %s", code, body)
	}
}

// TestFeatureVolumesDockerCLI: Debian's docker CLI manages volumes and
// runs containers with them against capsad.
func TestFeatureVolumesDockerCLI(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	must := func(args ...string) string {
		t.Helper()
		r := d.Docker(args...)
		if r.Code != 0 {
			t.Fatalf("docker %q: %v", args, r)
		}
		return r.Stdout
	}
	if out := strings.TrimSpace(must("volume", "create", "--label", "tier=db", "dv")); out != "dv" {
		t.Errorf("volume create: %q", out)
	}
	if out := must("volume", "ls"); !regexp.MustCompile(`(?m)^DRIVER\s+VOLUME NAME\n^local\s+dv$`).MatchString(out) {
		t.Errorf("volume ls: %q", out)
	}
	if out := strings.TrimSpace(must("volume", "ls", "-q", "--filter", "label=tier=db")); out != "dv" {
		t.Errorf("volume ls --filter label: %q", out)
	}
	if out := strings.TrimSpace(must("volume", "ls", "-q", "--filter", "dangling=false")); out != "" {
		t.Errorf("volume ls dangling=false: %q", out)
	}
	if out := strings.TrimSpace(must("volume", "inspect", "-f", "{{.Name}} {{.Labels.tier}}", "dv")); out != "dv db" {
		t.Errorf("volume inspect: %q", out)
	}
	must("run", "--rm", "-v", "dv:/x", "busybox", "sh", "-c", "echo hi > /x/f")
	if out := strings.TrimSpace(must("run", "--rm", "-v", "dv:/x:ro", "busybox", "cat", "/x/f")); out != "hi" {
		t.Errorf("run -v dv:/x: %q", out)
	}
	must("create", "--name", "user", "-v", "dv:/x", "busybox")
	if r := d.Docker("volume", "rm", "dv"); r.Code == 0 || !strings.Contains(r.Stderr, "volume is in use") {
		t.Errorf("docker volume rm in use: %v", r)
	}
	must("rm", "user")
	if out := strings.TrimSpace(must("volume", "rm", "dv")); out != "dv" {
		t.Errorf("volume rm: %q", out)
	}
}

// TestFeatureVolumesImage: an image's VOLUME gets an anonymous volume
// seeded from the image; inspect shows it as docker does; rm -v removes it.
func TestFeatureVolumesImage(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "--name", "src", "busybox", "sh", "-c", "mkdir /data && echo seeded > /data/f")
	code, body := rawHTTP(t, d, post("/v1.41/commit?container=src&repo=withvol&tag=latest", "application/json", `{"Volumes":{"/data":{}}}`))
	if code != 201 {
		t.Fatalf("commit: %d %s", code, body)
	}
	d.MustCapsa("rm", "src")
	if out := strings.TrimSpace(d.MustCapsa("run", "--name", "iv", "withvol", "cat", "/data/f")); out != "seeded" {
		t.Errorf("image VOLUME: got %q, want seeded", out)
	}
	names := volumeNames(d)
	if len(names) != 1 || !anonVolume.MatchString(names[0]) {
		t.Fatalf("volumes: %q, want one anonymous", names)
	}
	want := fmt.Sprintf("volume %s %s /data true", names[0], filepath.Join(d.DataRoot, "volumes", names[0], "_data"))
	if out := strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Source}} {{.Destination}} {{.RW}}{{end}}", "iv")); out != want {
		t.Errorf("inspect Mounts: got %q, want %q", out, want)
	}
	// Debian's docker (API 1.41) reads GET /system/df's legacy shape.
	if r := d.Docker("system", "df"); r.Code != 0 || !regexp.MustCompile(`Local Volumes\s+1\s+1\s`).MatchString(r.Stdout) {
		t.Errorf("docker system df: %v", r)
	}
	// capsa's client (API 1.56) reads the counts shape of API 1.52 on.
	if out := d.MustCapsa("system", "df"); !regexp.MustCompile(`Images\s+[1-9]\d*\s+\d+\s`).MatchString(out) ||
		!regexp.MustCompile(`Containers\s+1\s+0\s`).MatchString(out) || !regexp.MustCompile(`Local Volumes\s+1\s+1\s`).MatchString(out) {
		t.Errorf("capsa system df:\n%s", out)
	}
	// A bind over the VOLUME path takes its place: no volume is made.
	d.MustCapsa("run", "--rm", "-v", t.TempDir()+":/data", "withvol", "true")
	if n := len(volumeNames(d)); n != 1 {
		t.Errorf("bind over VOLUME made a volume: %q", volumeNames(d))
	}
	d.MustCapsa("rm", "-v", "iv")
	if names := volumeNames(d); len(names) != 0 {
		t.Errorf("after rm -v: %q", names)
	}
}

// TestFeatureVolumesRestart: which containers use a volume is rebuilt
// from their records when capsad restarts.
func TestFeatureVolumesRestart(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	id := strings.TrimSpace(d.MustCapsa("create", "-v", "kept:/k", "busybox"))
	d.Restart()
	if r := d.Capsa("volume", "rm", "kept"); r.Code != 1 || !strings.Contains(r.Stderr, "volume is in use - ["+id+"]") {
		t.Errorf("volume rm after restart: %v", r)
	}
	d.MustCapsa("rm", id)
	d.MustCapsa("volume", "rm", "kept")
}

// TestFeatureVolumesNested: a bind mount under a volume's path is seen
// through it, whatever the order of the flags (mounts go in by depth, as
// docker sorts them): the volume on /a must not hide the bind on /a/b.
func TestFeatureVolumesNested(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("from the bind\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-v", host + ":/a/b", "-v", "outer:/a"},
		{"-v", "outer:/a", "-v", host + ":/a/b"},
	} {
		run := append(append([]string{"run", "--rm"}, args...), "busybox", "cat", "/a/b/f")
		if out := d.MustCapsa(run...); strings.TrimSpace(out) != "from the bind" {
			t.Errorf("capsa %s: %q", strings.Join(run, " "), out)
		}
	}
}
