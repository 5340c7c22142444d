package shim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{ID: "web-1", Bundle: "/b", Runtime: "capsa-runtime", RuntimeRoot: "/run/r", StateDir: "/run/s"}
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"empty id", func(c *Config) { c.ID = "" }, `container id ""`},
		{"id with slash", func(c *Config) { c.ID = "a/b" }, `container id "a/b"`},
		{"id with dash first", func(c *Config) { c.ID = "-x" }, `container id "-x"`},
		{"no bundle", func(c *Config) { c.Bundle = "" }, `container "web-1": --bundle is required`},
		{"relative root", func(c *Config) { c.RuntimeRoot = "r" }, `--root "r": want an absolute path`},
		{"relative log", func(c *Config) { c.Log.Path = "l.json" }, `--log-path "l.json"`},
		{"long state dir", func(c *Config) { c.StateDir = "/" + strings.Repeat("s", 100) }, "the limit is 107"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("validate = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestFrame(t *testing.T) {
	f := frame(StreamStderr, []byte("hi"))
	want := []byte{2, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'}
	if !bytes.Equal(f, want) {
		t.Errorf("frame = %v, want %v", f, want)
	}
	if n := binary.BigEndian.Uint32(frame(1, make([]byte, 70000))[4:8]); n != 70000 {
		t.Errorf("length %d, want 70000", n)
	}
}

func TestBroadcasterDropsSlowClient(t *testing.T) {
	b := newBroadcaster()
	slow, _ := b.subscribe()
	fast, _ := b.subscribe()
	for i := 0; i < subscriberBuffer+1; i++ {
		b.send(StreamStdout, []byte("x"))
		if i < subscriberBuffer {
			<-fast
		}
	}
	// slow has subscriberBuffer frames and then its channel closes.
	n := 0
	for range slow {
		n++
	}
	if n != subscriberBuffer {
		t.Errorf("slow client got %d frames before being dropped, want %d", n, subscriberBuffer)
	}
	if got := <-fast; !bytes.Equal(got, frame(StreamStdout, []byte("x"))) {
		t.Errorf("fast client got %v", got)
	}
	b.close()
	if _, ok := <-fast; ok {
		t.Errorf("channel open after close")
	}
	if _, ok := b.subscribe(); ok {
		t.Errorf("subscribe after close succeeded")
	}
}

func TestExitRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadExit(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadExit of nothing = %v, want ErrNotExist", err)
	}
	e := Exit{ID: "c", Pid: 42, ExitCode: 137, ExitedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	if err := writeExit(dir, e); err != nil {
		t.Fatal(err)
	}
	got, err := ReadExit(dir)
	if err != nil || got != e {
		t.Errorf("ReadExit = %+v, %v; want %+v", got, err, e)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir holds %d files, want exit.json only", len(ents))
	}
}

// newTestShim is a shim serving on a socket in a temp dir, with a fake
// runtime and no container: the protocol without root.
func newTestShim(t *testing.T, runtime string) (*Shim, *Client) {
	t.Helper()
	dir, err := os.MkdirTemp("", "shimu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := newShim(Config{ID: "c1", Runtime: runtime, RuntimeRoot: dir, StateDir: filepath.Join(dir, "state")})
	s.pid = 12345
	if err := s.listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { s.serve(); close(served) }()
	t.Cleanup(func() { s.stop(); <-served })
	return s, NewClient(filepath.Join(s.cfg.StateDir, SocketName))
}

func TestProtocol(t *testing.T) {
	s, c := newTestShim(t, "/bin/true")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fi, err := os.Lstat(filepath.Join(s.cfg.StateDir, SocketName))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, %v; want a 0600 socket", fi.Mode(), err)
	}
	st, err := c.State(ctx)
	if err != nil || st.Status != StatusRunning || st.Pid != 12345 || st.ID != "c1" {
		t.Errorf("state = %+v, %v", st, err)
	}
	if err := c.Resize(ctx, 10, 10); err == nil || !strings.Contains(err.Error(), `"c1": it has no terminal`) {
		t.Errorf("resize without a tty: %v", err)
	}
	if _, err := c.call(ctx, Request{Op: "nope"}); err == nil || !strings.Contains(err.Error(), `unknown op "nope"`) {
		t.Errorf("unknown op: %v", err)
	}
	if err := c.Kill(ctx, "TERM; rm", false); err == nil || !strings.Contains(err.Error(), "invalid signal") {
		t.Errorf("kill with a bad signal: %v", err)
	}
	if _, err := c.Shutdown(ctx, false); err == nil || !strings.Contains(err.Error(), "runs") {
		t.Errorf("shutdown while running: %v", err)
	}
	waited := make(chan State, 1)
	go func() {
		st, err := c.Wait(ctx)
		if err != nil {
			t.Error(err)
		}
		waited <- st
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case st := <-waited:
		t.Fatalf("wait returned %+v before the exit", st)
	default:
	}
	close(s.ioDone)
	// Exit code 3: WEXITSTATUS sits in bits 8-15.
	s.finishExit(unix.WaitStatus(3<<8), time.Now())
	st = <-waited
	if st.Status != StatusStopped || st.ExitCode != 3 {
		t.Errorf("wait = %+v, want stopped 3", st)
	}
	if e, err := ReadExit(s.cfg.StateDir); err != nil || e.ExitCode != 3 {
		t.Errorf("exit.json = %+v, %v", e, err)
	}
	if err := c.Kill(ctx, "KILL", false); err == nil || !strings.Contains(err.Error(), `"c1": not running`) {
		t.Errorf("kill after exit: %v", err)
	}
	if _, err := c.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	<-s.done
	if _, err := os.Lstat(filepath.Join(s.cfg.StateDir, SocketName)); err == nil {
		t.Errorf("socket left after shutdown")
	}
}

func TestSignaledExitCode(t *testing.T) {
	s, _ := newTestShim(t, "/bin/true")
	close(s.ioDone)
	s.finishExit(unix.WaitStatus(syscall.SIGKILL), time.Now())
	if st := s.State(); st.ExitCode != 137 {
		t.Errorf("exit code %d, want 137", st.ExitCode)
	}
}

func TestRuntimeErrorNamesContainer(t *testing.T) {
	s, c := newTestShim(t, "/bin/false")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Kill(ctx, "TERM", false)
	if err == nil || !strings.Contains(err.Error(), `kill container "c1"`) {
		t.Errorf("kill with a failing runtime: %v", err)
	}
	// The runtime's own message, from its JSON log, is the error.
	if err := os.WriteFile(filepath.Join(s.cfg.StateDir, "fake.sh"),
		[]byte("#!/bin/sh\nwhile [ \"$1\" != --log ]; do shift; done\necho '{\"level\":\"error\",\"msg\":\"container is paused\"}' >> \"$2\"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.cfg.Runtime = filepath.Join(s.cfg.StateDir, "fake.sh")
	err = c.Kill(ctx, "TERM", false)
	if err == nil || err.Error() != `kill container "c1": container is paused` {
		t.Errorf("kill = %v, want the runtime's message", err)
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal
		ok   bool
	}{
		{"TERM", unix.SIGTERM, true}, {"SIGKILL", unix.SIGKILL, true}, {"hup", unix.SIGHUP, true},
		{"9", unix.SIGKILL, true}, {"0", 0, false}, {"65", 0, false}, {"NOPE", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSignal(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestExecProcessJSON(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string // "" for an error
	}{
		{"no tty", Request{Process: []byte(`{"args":["ls"],"terminal":true,"consoleSize":{"height":1,"width":1}}`)},
			`{"args":["ls"],"terminal":false}`},
		{"tty sized", Request{Process: []byte(`{"args":["sh"]}`), Terminal: true, Rows: 24, Cols: 80},
			`{"args":["sh"],"consoleSize":{"height":24,"width":80},"terminal":true}`},
		{"tty unsized", Request{Process: []byte(`{"args":["sh"]}`), Terminal: true}, `{"args":["sh"],"terminal":true}`},
		{"spaces, escapes", Request{Process: []byte(` { "env" : [ "A=<b>" ], "termin\u0061l":true } `)},
			`{"env":["A=<b>"],"terminal":false}`},
		{"none", Request{}, ""},
		{"not an object", Request{Process: []byte(`["sh"]`)}, ""},
		{"null", Request{Process: []byte(`null`)}, ""},
		{"truncated", Request{Process: []byte(`{"args":`)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := execProcessJSON(tt.req)
			if tt.want == "" {
				if err == nil {
					t.Errorf("got %s, want an error", got)
				}
				return
			}
			// The runtime reads it as a value: members may come in any
			// order.
			var g, w any
			if err != nil || json.Unmarshal(got, &g) != nil {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
			_ = json.Unmarshal([]byte(tt.want), &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestExecRecordsBounded: beyond maxExecs, the oldest finished records go;
// running ones stay whatever their age.
func TestExecRecordsBounded(t *testing.T) {
	old := maxExecs
	maxExecs = 3
	defer func() { maxExecs = old }()
	s, c := newTestShim(t, "/bin/true")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	add := func(id string, pid int, stopped bool) {
		ep := &execProc{id: id, pid: pid, pidfd: -1, exited: make(chan struct{})}
		s.addExec(ep)
		if stopped {
			s.execMu.Lock()
			delete(s.execPids, pid)
			ep.stopped, ep.exitCode = true, pid
			s.execMu.Unlock()
			close(ep.exited)
		}
	}
	add("run0", 100, false)
	add("done1", 101, true)
	add("done2", 102, true)
	add("done3", 103, true)
	add("done4", 104, true)
	for id, want := range map[string]bool{"run0": true, "done1": false, "done2": false, "done3": true, "done4": true} {
		_, err := c.ExecState(ctx, id)
		if (err == nil) != want {
			t.Errorf("record %s kept: %v, want %v", id, err == nil, want)
		}
	}
	if st, err := c.WaitExec(ctx, "done4"); err != nil || st.ExitCode != 104 || st.Status != StatusStopped {
		t.Errorf("wait exec done4 = %+v, %v", st, err)
	}
	if err := c.KillExec(ctx, "done3", "TERM"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("kill of a stopped exec: %v", err)
	}
	if _, _, err := c.Exec(ctx, ExecRequest{ID: "x", Process: nil}); err == nil {
		t.Errorf("exec without a process succeeded")
	}
}

func TestValidIDAndSignal(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "web-1": true, "A9_x.y+z": true, strings.Repeat("a", 128): true,
		"": false, "-a": false, "_a": false, "a/b": false, "a b": false, strings.Repeat("a", 129): false, "é": false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v, want %v", id, got, want)
		}
	}
	for sig, want := range map[string]bool{
		"TERM": true, "9": true, "SIGRTMIN+3": true, "": false, "-9": false, "TERM; rm": false, strings.Repeat("A", 17): false,
	} {
		if got := validSignal(sig); got != want {
			t.Errorf("validSignal(%q) = %v, want %v", sig, got, want)
		}
	}
}
