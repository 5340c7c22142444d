package registry_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// ingests maps the expected digest of each ingest in the daemon's content
// store to the bytes its data file holds.
func ingests(t *testing.T, d *daemontest.Daemon) map[string]int64 {
	t.Helper()
	root := filepath.Join(d.DataRoot, "content", "ingest")
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range ents {
		var meta struct {
			Expected string `json:"expected"`
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "meta"))
		if err != nil {
			t.Fatalf("ingest %s: %v", e.Name(), err)
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatalf("ingest %s: meta %q: %v", e.Name(), b, err)
		}
		var n int64
		if fi, err := os.Stat(filepath.Join(root, e.Name(), "data")); err == nil {
			n = fi.Size()
		}
		out[meta.Expected] = n
	}
	return out
}

// backdate sets the modification time of every file under dir an hour
// back: the content GC's grace period (a minute, which protects pulls in
// progress) is over for them.
func backdate(t *testing.T, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKillDuringPull kills capsad with SIGKILL while a pull is half way
// (the proxy serves blobs at 512 KiB/s): capsad opens again without the
// layer extractions the pull had made and without the image; a second
// pull asks only for the rest of each partly downloaded layer (Range
// requests from the ingests' sizes) and the image runs; rmi then leaves
// no blob, ingest or snapshot behind.
func TestKillDuringPull(t *testing.T) {
	reg := startRegistry(t)
	img, digests, sums := bigImage(t, 3<<20, 3<<20)
	push(t, reg.Host+"/slow:v1", img)
	p := newBlobProxy(t, reg.Host)
	p.setRate(512 << 10)
	d := daemontest.Start(t)
	ref := p.host() + "/slow:v1"

	cmd := exec.Command(filepath.Join(d.Bin, "capsa"), "-H", d.Host, "pull", ref)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill() // by its pid; reaped by the Wait above
			<-exited
		}
	}()
	// Wait until each random layer has come part of the way.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, a := p.stats(digests[0])
		_, _, b := p.stats(digests[1])
		if a >= 256<<10 && b >= 256<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy served %d and %d bytes of the layers in 10 s; capsa pull: %s", a, b, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.Kill9()
	select {
	case <-exited:
		if err := waitErr; err == nil {
			t.Fatalf("capsa pull succeeded although capsad was killed: %s", out.String())
		}
		t.Logf("capsa pull, its daemon killed: %v: %s", waitErr, strings.TrimSpace(out.String()))
	case <-time.After(10 * time.Second):
		t.Fatalf("capsa pull still runs 10 s after capsad was killed")
	}
	before := ingests(t, d)
	t.Logf("ingests after the kill: %v", before)

	p.setRate(0)
	d.Restart()
	d.MustCapsa("info")
	if !strings.Contains(d.LogText(), "removed leftover layer extractions") {
		t.Errorf("capsad's log does not say it removed the killed pull's extractions")
	}
	if dirs := snapshotDirs(t, d); len(dirs) != 0 {
		t.Errorf("snapshots left after the killed pull: %v", dirs)
	}
	if m := daemontest.Mounts(d.DataRoot, d.ExecRoot); len(m) != 0 {
		t.Errorf("mounts left after the killed pull: %v", m)
	}
	if r := d.Capsa("image", "inspect", ref); r.Code == 0 {
		t.Errorf("the killed pull left an image record: %v", r)
	}
	if out := d.MustCapsa("images", "-aq"); out != "" {
		t.Errorf("capsa images after the killed pull: %q", out)
	}

	// Pull again: what the ingests hold is not asked for again.
	p.reset()
	if r := d.Capsa("pull", ref); r.Code != 0 {
		t.Fatalf("capsa pull after the kill: %v", r)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	partial := 0
	for _, l := range m.Layers { // busybox's and the random ones
		dg := l.Digest.String()
		size := layerSize(t, img, dg)
		gets, ranges, served := p.stats(dg)
		have := before[dg]
		t.Logf("layer %s (%d bytes): %d in its ingest, then %d GETs, ranges %q, %d bytes served", dg, size, have, gets, ranges, served)
		if have == 0 {
			continue
		}
		partial++
		if want := fmt.Sprintf("bytes=%d-", have); len(ranges) != 1 || ranges[0] != want {
			t.Errorf("layer %s: Range headers %q, want [%q]: the ingest was not resumed", dg, ranges, want)
		}
		if served != size-have {
			t.Errorf("layer %s: %d bytes served, want the %d its ingest lacked", dg, served, size-have)
		}
	}
	if partial == 0 {
		t.Errorf("no layer had a partial ingest after the kill: %v", before)
	}
	if left := ingests(t, d); len(left) != 0 {
		t.Errorf("ingests left after the second pull: %v", left)
	}
	checkSums(t, d, ref, sums)

	// Remove the image: blobs, ingests and snapshots all go.
	backdate(t, filepath.Join(d.DataRoot, "content"))
	d.MustCapsa("rmi", ref)
	d.MustCapsa("image", "prune", "-a", "-f")
	if files := storeFiles(t, d); len(files) != 0 {
		t.Errorf("content store after rmi and prune: %v", files)
	}
	if dirs := snapshotDirs(t, d); len(dirs) != 0 {
		t.Errorf("snapshots after rmi and prune: %v", dirs)
	}
}
