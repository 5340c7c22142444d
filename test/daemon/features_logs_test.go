package daemon_test

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureLogs: logs -f shows lines while the container writes them and
// ends when it exits; --tail, --since and -t as docker's.
func TestFeatureLogs(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	d.MustCapsa("run", "-d", "--name", "writer", "busybox", "sh", "-c",
		"for i in 1 2 3 4 5 6; do echo line-$i; sleep 0.3; done; echo to-stderr >&2")
	cmd := exec.Command(filepath.Join(d.Bin, "capsa"), "-H", d.Host, "logs", "-f", "writer")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	first := time.Now()
	for i := 1; i <= 6; i++ {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("logs -f ended after %d lines", i-1)
			}
			if want := "line-" + string(rune('0'+i)); l != want {
				t.Errorf("logs -f line %d: %q, want %q", i, l, want)
			}
			if i == 2 {
				// The container is still writing when the second line shows.
				if st := inspectField(d, "writer", "{{.State.Running}}"); st != "true" {
					t.Errorf("logs -f showed line 2 only after the container ended (running=%s)", st)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("logs -f: line %d not seen within 10 s", i)
		}
	}
	if el := time.Since(first); el < 700*time.Millisecond {
		t.Errorf("logs -f gave 6 lines in %v: they did not come as they were written", el)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs -f: %v; stderr %q", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not end when the container exited")
	}
	if !strings.Contains(stderr.String(), "to-stderr") {
		t.Errorf("logs -f: the container's stderr is not on stderr: %q", stderr.String())
	}
	if st := inspectField(d, "writer", "{{.State.Status}}"); st != "exited" {
		t.Errorf("writer: %q, want exited", st)
	}

	// logs -f of an exited container prints everything and ends.
	r := d.Capsa("logs", "-f", "writer")
	if r.Code != 0 || r.Stdout != "line-1\nline-2\nline-3\nline-4\nline-5\nline-6\n" || r.Stderr != "to-stderr\n" {
		t.Errorf("logs -f of an exited container: %v", r)
	}
	if r := d.Capsa("logs", "--tail", "2", "writer"); r.Stdout != "line-6\n" || r.Stderr != "to-stderr\n" {
		t.Errorf("logs --tail 2: %v", r)
	}
	if r := d.Capsa("logs", "--tail", "0", "writer"); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Errorf("logs --tail 0: %v", r)
	}

	if r := d.Capsa("logs", "--details", "--tail", "2", "writer"); r.Stdout != " line-6\n" || r.Stderr != " to-stderr\n" {
		t.Errorf("logs --details: %v", r)
	}
	r = d.Capsa("logs", "-t", "writer")
	ls := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(ls) != 6 {
		t.Fatalf("logs -t: %v", r)
	}
	var stamps []time.Time
	for _, l := range ls {
		ts, rest, _ := strings.Cut(l, " ")
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !strings.HasPrefix(rest, "line-") || len(ts) != len("2006-01-02T15:04:05.000000000Z") {
			t.Fatalf("logs -t line %q: want an RFC 3339 time with 9 digits then the line (%v)", l, err)
		}
		stamps = append(stamps, tm)
	}
	// --since the fourth line's time: lines 4-6 (docker's since is
	// inclusive).
	r = d.Capsa("logs", "--since", stamps[3].Format(time.RFC3339Nano), "writer")
	if r.Stdout != "line-4\nline-5\nline-6\n" {
		t.Errorf("logs --since %s: %v", stamps[3].Format(time.RFC3339Nano), r)
	}
	// --since as unix seconds with fractions.
	since := stamps[2].Add(time.Millisecond)
	r = d.Capsa("logs", "--since", fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()), "writer")
	if r.Stdout != "line-4\nline-5\nline-6\n" {
		t.Errorf("logs --since just after line 3: %v", r)
	}
	r = d.Capsa("logs", "--since", "1h", "writer")
	if !strings.HasPrefix(r.Stdout, "line-1\n") {
		t.Errorf("logs --since 1h: %v", r)
	}
	r = d.Capsa("logs", "--until", stamps[1].Add(time.Millisecond).Format(time.RFC3339Nano), "writer")
	if r.Stdout != "line-1\nline-2\n" {
		t.Errorf("logs --until just after line 2: %v", r)
	}
}
