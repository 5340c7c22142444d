package daemon_test

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureContainerOps: cp both ways, diff, export, top, stats, pause
// and unpause, rename, wait and events, as a user sees them.
func TestFeatureContainerOps(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	since := time.Now().Format(time.RFC3339Nano)

	d.MustCapsa("run", "-d", "--name", "ops", "busybox", "sh", "-c",
		// Written aside and renamed: a reader never sees it empty.
		"i=0; while true; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.1; done")

	// cp into the container and back.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("from the host\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	d.MustCapsa("cp", filepath.Join(dir, "in.txt"), "ops:/root/in.txt")
	if out := d.MustCapsa("exec", "ops", "cat", "/root/in.txt"); out != "from the host" {
		t.Errorf("cp into the container: %q", out)
	}
	if out := d.MustCapsa("exec", "ops", "stat", "-c", "%a", "/root/in.txt"); out != "640" {
		t.Errorf("cp into the container kept mode %s, want 640", out)
	}
	d.MustCapsa("exec", "ops", "sh", "-c", "echo made inside > /made; rm /bin/vi; echo changed >> /etc/passwd")
	d.MustCapsa("cp", "ops:/made", filepath.Join(dir, "out.txt"))
	if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "made inside\n" {
		t.Errorf("cp out of the container: %q, %v", b, err)
	}
	if r := d.Capsa("cp", "ops:/no/such", dir); r.Code != 1 || !strings.Contains(r.Stderr, "Could not find the file /no/such in container ops") {
		t.Errorf("cp of a missing path: %v", r)
	}
	// cp to stdout is a tar stream.
	r := d.Capsa("cp", "ops:/made", "-")
	if names := tarNames(t, []byte(r.Stdout)); !slices.Equal(names, []string{"made"}) {
		t.Errorf("cp to - : tar with %v", names)
	}

	// diff: A, C and D lines.
	diff := d.MustCapsa("diff", "ops")
	// (dockerd also lists "C /etc": its -init layer's /etc differs.)
	for _, want := range []string{"A /made", "C /etc/passwd", "D /bin/vi", "C /root", "A /root/in.txt", "A /tmp/counter"} {
		if !containsLine(diff, want) {
			t.Errorf("diff has no %q line:\n%s", want, diff)
		}
	}

	// top lists the process.
	top := d.MustCapsa("top", "ops")
	if !strings.HasPrefix(top, "UID") || !strings.Contains(top, "PID") || !strings.Contains(top, "while true") {
		t.Errorf("top:\n%s", top)
	}
	if out := d.MustCapsa("top", "ops", "-o", "pid,comm"); !strings.Contains(out, "COMMAND") || !strings.Contains(out, "sh") {
		t.Errorf("top -o pid,comm:\n%s", out)
	}

	// stats --no-stream shows the container, with its memory.
	st := d.MustCapsa("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "ops")
	if f := strings.Fields(st); len(f) < 2 || f[0] != "ops" || !strings.Contains(st, "iB") {
		t.Errorf("stats --no-stream: %q", st)
	}
	if out := d.MustCapsa("stats", "--no-stream"); !strings.Contains(out, "CONTAINER ID") || !strings.Contains(out, "ops") {
		t.Errorf("stats --no-stream table:\n%s", out)
	}

	// ps -s: the writable layer (the files written above) and the whole.
	sz := d.MustCapsa("ps", "-s", "--filter", "name=ops", "--format", "{{.Size}}")
	if !strings.HasSuffix(sz, ")") || !strings.Contains(sz, "B (virtual ") || strings.HasPrefix(sz, "0B") {
		t.Errorf("ps -s: %q, want the writable layer's size and (virtual ...)", sz)
	}

	// pause: state paused, the counter stops; unpause: it goes on.
	d.MustCapsa("pause", "ops")
	if s := inspectField(d, "ops", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"); s != "paused true true" {
		t.Errorf("after pause: %q", s)
	}
	if out := d.MustCapsa("ps", "--format", "{{.Names}} {{.Status}}"); !strings.HasSuffix(out, "(Paused)") {
		t.Errorf("ps of a paused container: %q", out)
	}
	c1 := readCounter(t, d)
	time.Sleep(500 * time.Millisecond)
	if c2 := readCounter(t, d); c2 != c1 {
		t.Errorf("the counter went from %d to %d while paused", c1, c2)
	}
	if r := d.Capsa("exec", "ops", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "paused") {
		t.Errorf("exec in a paused container: %v", r)
	}
	d.MustCapsa("unpause", "ops")
	if s := inspectField(d, "ops", "{{.State.Status}}"); s != "running" {
		t.Errorf("after unpause: %q", s)
	}
	waitFor(t, 5*time.Second, "the counter to go on after unpause", func() (bool, string) {
		c := readCounter(t, d)
		return c > c1+2, strconv.Itoa(c)
	})
	id := inspectField(d, "ops", "{{.Id}}")
	if r := d.Capsa("unpause", "ops"); r.Code != 1 || r.Stderr != "Error response from daemon: Container "+id+" is not paused\n" {
		t.Errorf("unpause of a running container: %v", r)
	}
	d.MustCapsa("pause", "ops")
	if r := d.Capsa("pause", "ops"); r.Code != 1 || r.Stderr != "Error response from daemon: Container "+id+" is already paused\n" {
		t.Errorf("pause of a paused container: %v", r)
	}
	d.MustCapsa("unpause", "ops")

	// rename.
	d.MustCapsa("rename", "ops", "ops2")
	if s := inspectField(d, "ops2", "{{.Name}}"); s != "/ops2" {
		t.Errorf("after rename: Name %q", s)
	}
	if r := d.Capsa("inspect", "ops"); r.Code != 1 {
		t.Errorf("inspect of the old name: %v", r)
	}

	// export has the container's files, changes included.
	r = d.Capsa("export", "ops2")
	if r.Code != 0 {
		t.Fatalf("export: %v", r.Code)
	}
	names := tarNames(t, []byte(r.Stdout))
	for _, want := range []string{"made", "root/in.txt", "bin/sh", "etc/passwd"} {
		if !slices.Contains(names, want) && !slices.Contains(names, "./"+want) {
			t.Errorf("export has no %s (%d entries)", want, len(names))
		}
	}
	if slices.Contains(names, "bin/vi") || slices.Contains(names, "./bin/vi") {
		t.Errorf("export has the removed bin/vi")
	}
	out := filepath.Join(dir, "exp.tar")
	d.MustCapsa("export", "-o", out, "ops2")
	if fi, err := os.Stat(out); err != nil || fi.Size() < 1024 {
		t.Errorf("export -o: %v", err)
	}

	// wait blocks until the exit and prints the code.
	d.MustCapsa("run", "-d", "--name", "waiter", "busybox", "sh", "-c", "sleep 0.5; exit 6")
	t0 := time.Now()
	if r := d.Capsa("wait", "waiter"); r.Code != 0 || r.Stdout != "6\n" {
		t.Errorf("wait: %v", r)
	}
	if el := time.Since(t0); el < 300*time.Millisecond {
		t.Errorf("wait returned after %v, before the container exited", el)
	}
	if r := d.Capsa("wait", "waiter"); r.Stdout != "6\n" {
		t.Errorf("wait of an exited container: %v", r)
	}

	// events: create, start, die, destroy of a container's life.
	d.MustCapsa("run", "--name", "short", "busybox", "true")
	d.MustCapsa("rm", "short")
	until := time.Now().Format(time.RFC3339Nano)
	ev := d.MustCapsa("events", "--since", since, "--until", until, "--filter", "container=short", "--format", "{{.Action}}")
	if ev != "create\nattach\nstart\ndie\ndestroy" && ev != "create\nstart\ndie\ndestroy" {
		t.Errorf("events of run and rm: %q", ev)
	}
	ev = d.MustCapsa("events", "--since", since, "--until", until, "--filter", "event=pause", "--filter", "event=unpause", "--filter", "event=rename", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	if ev != "pause ops\nunpause ops\npause ops\nunpause ops\nrename ops2" {
		t.Errorf("events pause, unpause, rename: %q", ev)
	}
	ev = d.MustCapsa("events", "--since", since, "--until", until, "--filter", "container=waiter", "--filter", "event=die", "--format", "{{.Actor.Attributes.exitCode}}")
	if ev != "6" {
		t.Errorf("die event's exitCode: %q", ev)
	}
}

func readCounter(t *testing.T, d *daemontest.Daemon) int {
	t.Helper()
	dir := t.TempDir()
	d.MustCapsa("cp", "ops:/tmp/counter", dir)
	b, err := os.ReadFile(filepath.Join(dir, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("counter %q", b)
	}
	return n
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("tar: %v after %v", err, names)
		}
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
}
