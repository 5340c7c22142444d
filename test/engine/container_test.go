package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/oci"
)

func TestRunExitCodeAndLog(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	c := v.run("hello", "sh", "-c", "echo hello; exit 3")
	if code := v.waitCode(c.ID); code != 3 {
		t.Errorf("exit code: got %d, want 3", code)
	}
	st := v.status(c.ID)
	if st.Status != engine.StatusExited || st.ExitCode != 3 || st.FinishedAt.IsZero() {
		t.Errorf("state: got %+v, want exited(3) with a finish time", st)
	}
	f, err := os.Open(c.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ent struct{ Log, Stream string }
		if err := json.Unmarshal(sc.Bytes(), &ent); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		got = append(got, ent.Stream+":"+ent.Log)
	}
	if len(got) != 1 || got[0] != "stdout:hello\n" {
		t.Errorf("log: got %q, want [\"stdout:hello\\n\"]", got)
	}
	// Starting it again runs it again.
	if err := v.e.Start(context.Background(), c.ID); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if code := v.waitCode(c.ID); code != 3 {
		t.Errorf("second run exit code: got %d, want 3", code)
	}
}

func TestStartRunningIsConflict(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	c := v.run("twice", "sleep", "60")
	err := v.e.Start(context.Background(), c.ID)
	var te *engine.TransitionError
	if !errors.Is(err, errdefs.ErrConflict) || !errors.As(err, &te) {
		t.Errorf("second start: got %v, want a conflict", err)
	}
}

// A PID 1 that handles SIGTERM ends at once; Stop returns then.
func TestStopReturnsOnExit(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	c := v.run("term", "sh", "-c", "trap 'exit 143' TERM; echo ready; sleep 60 & wait")
	waitLog(t, c.LogPath, "ready") // the trap is set
	start := time.Now()
	if err := v.e.Stop(context.Background(), c.ID, 10*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Far below the 10 s timeout (loose for a loaded machine).
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v, want well under the 10s timeout", d)
	}
	if st := v.status(c.ID); st.Status != engine.StatusExited || st.ExitCode != 143 {
		t.Errorf("state: got %+v, want exited(143)", st)
	}
}

// A PID 1 that ignores SIGTERM is killed exactly at the timeout.
func TestStopEscalates(t *testing.T) {
	for name, cmd := range map[string][]string{
		"trap":  {"sh", "-c", "trap '' TERM; echo ready; sleep 60"},
		"sleep": {"sleep", "60"}, // PID 1 without a handler: the kernel drops SIGTERM
	} {
		t.Run(name, func(t *testing.T) {
			v := newEnv(t)
			v.importBusybox()
			c := v.run("ignore", cmd...)
			if name == "trap" {
				waitLog(t, c.LogPath, "ready")
			} else {
				time.Sleep(300 * time.Millisecond)
			}
			start := time.Now()
			if err := v.e.Stop(context.Background(), c.ID, time.Second); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if d := time.Since(start); d < time.Second || d > 4*time.Second {
				t.Errorf("stop took %v, want 1s (the timeout) to 4s", d)
			}
			if st := v.status(c.ID); st.Status != engine.StatusExited || st.ExitCode != 137 {
				t.Errorf("state: got %+v, want exited(137)", st)
			}
		})
	}
}

func TestKill(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	c := v.run("kill", "sleep", "60")
	if err := v.e.Kill(context.Background(), c.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	if code := v.waitCode(c.ID); code != 137 {
		t.Errorf("exit code: got %d, want 137", code)
	}
	if err := v.e.Kill(context.Background(), c.ID, "KILL"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("kill of an exited container: got %v, want a conflict", err)
	}
}

func TestNameConflictAndLookup(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	c, err := v.e.Create(ctx, engine.CreateOptions{Name: "web", Image: "busybox", Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.e.Create(ctx, engine.CreateOptions{Name: "web", Image: "busybox", Cmd: []string{"true"}})
	if !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("second create named web: got %v, want a conflict", err)
	}
	for _, ref := range []string{c.ID, "web", "/web", c.ID[:12]} {
		got, err := v.e.Inspect(ctx, ref)
		if err != nil || got.ID != c.ID {
			t.Errorf("inspect %q: got %v, %v", ref, got.ID, err)
		}
	}
	if st := v.status(c.ID); st.Status != engine.StatusCreated {
		t.Errorf("status: got %s, want created", st.Status)
	}
	cs, _ := v.e.List(ctx)
	if len(cs) != 1 {
		t.Errorf("list: got %d containers, want 1", len(cs))
	}
	if err := v.e.Remove(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	v.assertGone(c.ID)
	if _, err := v.e.Create(ctx, engine.CreateOptions{Name: "web", Image: "busybox", Cmd: []string{"true"}}); err != nil {
		t.Errorf("create after removal: %v", err)
	}
}

func TestRemoveRunning(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	c := v.run("busy", "sleep", "60")
	if _, err := os.Stat("/sys/fs/cgroup/memory/capsa/" + c.ID); err != nil {
		t.Errorf("the container's memory cgroup: %v", err)
	}
	if err := v.e.Remove(ctx, c.ID, false); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("remove without force: got %v, want a conflict", err)
	}
	if st := v.status(c.ID); st.Status != engine.StatusRunning {
		t.Fatalf("after a refused remove: %s, want running", st.Status)
	}
	if err := v.e.Remove(ctx, c.ID, true); err != nil {
		t.Fatalf("remove with force: %v", err)
	}
	v.assertGone(c.ID)
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	bad := func(ctx context.Context, s *specs.Spec) error { return errors.New("bad option") }
	_, err := v.e.Create(ctx, engine.CreateOptions{Name: "bad", Image: "busybox", SpecOpts: []oci.SpecOpt{bad}})
	if err == nil {
		t.Fatal("create with a failing option succeeded")
	}
	_, err = v.e.Create(ctx, engine.CreateOptions{Name: "bad", Image: "nosuchimage"})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("create from an unknown image: got %v, want not found", err)
	}
	_, err = v.e.Create(ctx, engine.CreateOptions{Name: "bad name!", Image: "busybox"})
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("create with a bad name: got %v, want invalid", err)
	}
	cs, _ := v.e.List(ctx)
	if len(cs) != 0 {
		t.Errorf("list: got %d containers, want 0", len(cs))
	}
	for _, d := range []string{filepath.Join(v.cfg.RunRoot, "containers"), filepath.Join(v.cfg.DataRoot, "containers")} {
		ents, _ := os.ReadDir(d)
		if len(ents) != 0 {
			t.Errorf("%s: %d entries left", d, len(ents))
		}
	}
	if mps := mountsUnder(v.cfg.RunRoot); len(mps) != 0 {
		t.Errorf("mounts left: %q", mps)
	}
	sns, _ := v.e.Snapshots(ctx)
	for _, s := range sns {
		if s.Kind.String() != "committed" {
			t.Errorf("snapshot left: %+v", s)
		}
	}
	// The name is free.
	if _, err := v.e.Create(ctx, engine.CreateOptions{Name: "bad", Image: "busybox", Cmd: []string{"true"}}); err != nil {
		t.Errorf("create after failures: %v", err)
	}
}

// The engine dies (Close without stopping anything) and comes back.
func TestReopen(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	long := v.run("long", "sh", "-c", "trap 'exit 143' TERM; echo ready; sleep 60 & wait")
	waitLog(t, long.LogPath, "ready")
	short := v.run("short", "sh", "-c", "sleep 1; exit 7")
	created, err := v.e.Create(ctx, engine.CreateOptions{Name: "idle", Image: "busybox", Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.e.Close(); err != nil {
		t.Fatal(err)
	}
	v.e = nil
	time.Sleep(2 * time.Second) // short exits while no engine runs
	v.open()
	if st := v.status(long.ID); st.Status != engine.StatusRunning {
		t.Errorf("long after reopen: got %s, want running", st.Status)
	}
	if st := v.status(short.ID); st.Status != engine.StatusExited || st.ExitCode != 7 {
		t.Errorf("short after reopen: got %+v, want exited(7)", st)
	}
	if st := v.status(created.ID); st.Status != engine.StatusCreated {
		t.Errorf("idle after reopen: got %s, want created", st.Status)
	}
	start := time.Now()
	if err := v.e.Stop(ctx, long.ID, 10*time.Second); err != nil {
		t.Fatalf("stop after reopen: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop after reopen took %v", d)
	}
	if st := v.status(long.ID); st.Status != engine.StatusExited || st.ExitCode != 143 {
		t.Errorf("long after stop: got %+v, want exited(143)", st)
	}
	// The exited container starts again after the restart.
	if err := v.e.Start(ctx, short.ID); err != nil {
		t.Fatalf("start short again: %v", err)
	}
	if code := v.waitCode(short.ID); code != 7 {
		t.Errorf("short's second run: got %d, want 7", code)
	}
	for _, c := range []engine.Info{long, short, created} {
		if err := v.e.Remove(ctx, c.ID, false); err != nil {
			t.Errorf("remove %s: %v", c.Name, err)
		}
		v.assertGone(c.ID)
	}
}

// The image's StopSignal is what Stop sends first.
func TestStopSignalFromImage(t *testing.T) {
	v := newEnv(t)
	ctx := context.Background()
	_, err := v.e.ImportImage(ctx, "bbusr1", bytes.NewReader(busyboxTar(t)), ocispec.ImageConfig{Cmd: []string{"sh"}, StopSignal: "SIGUSR1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.e.Create(ctx, engine.CreateOptions{Image: "bbusr1", Cmd: []string{"sh", "-c", "trap 'exit 10' USR1; echo ready; sleep 60 & wait"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.StopSignal != "SIGUSR1" {
		t.Errorf("stop signal: got %q, want SIGUSR1", c.StopSignal)
	}
	if err := v.e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c.LogPath, "ready")
	start := time.Now()
	if err := v.e.Stop(ctx, c.ID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v", d)
	}
	if st := v.status(c.ID); st.ExitCode != 10 {
		t.Errorf("exit code: got %d, want 10 (the trap of USR1)", st.ExitCode)
	}
}

// Containers created, started and waited for at once; the same name
// asked for at once is given to one of them only.
func TestConcurrent(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	same := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, same[i] = v.e.Create(ctx, engine.CreateOptions{Name: "same", Image: "busybox", Cmd: []string{"true"}})
			c, err := v.e.Create(ctx, engine.CreateOptions{Image: "busybox", Cmd: []string{"sh", "-c", fmt.Sprintf("exit %d", i)}})
			if err != nil {
				errs[i] = err
				return
			}
			if err := v.e.Start(ctx, c.ID); err != nil {
				// The shim's log says what became of the container's init.
				shimLog, _ := os.ReadFile(filepath.Join(c.Bundle, "shim.log"))
				errs[i] = fmt.Errorf("%w; shim.log:\n%s", err, shimLog)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			code, err := v.e.Wait(wctx, c.ID)
			if err == nil && code != i {
				err = fmt.Errorf("exit code %d, want %d", code, i)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	won := 0
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Errorf("container %d: %v", i, errs[i])
		}
		switch {
		case same[i] == nil:
			won++
		case !errors.Is(same[i], errdefs.ErrConflict):
			t.Errorf("create named same: %v", same[i])
		}
	}
	if won != 1 {
		t.Errorf("%d creates named same succeeded, want 1", won)
	}
}

func TestPause(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	c := v.run("frozen", "sh", "-c", "trap 'exit 143' TERM; echo ready; sleep 60 & wait")
	waitLog(t, c.LogPath, "ready")
	if err := v.e.Pause(ctx, c.ID); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if st := v.status(c.ID); st.Status != engine.StatusPaused {
		t.Errorf("after pause: %s, want paused", st.Status)
	}
	if err := v.e.Pause(ctx, c.ID); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("second pause: got %v, want a conflict", err)
	}
	if err := v.e.Unpause(ctx, c.ID); err != nil {
		t.Fatalf("unpause: %v", err)
	}
	if st := v.status(c.ID); st.Status != engine.StatusRunning {
		t.Errorf("after unpause: %s, want running", st.Status)
	}
	// A paused container stops: it is thawed first.
	if err := v.e.Pause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := v.e.Stop(ctx, c.ID, 10*time.Second); err != nil {
		t.Fatalf("stop paused: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop of a paused container took %v", d)
	}
	if st := v.status(c.ID); st.Status != engine.StatusExited || st.ExitCode != 143 {
		t.Errorf("after stop: %+v, want exited(143)", st)
	}
}

func TestRemovePaused(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	c := v.run("frozen", "sleep", "60")
	if err := v.e.Pause(ctx, c.ID); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if err := v.e.Remove(ctx, c.ID, false); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("remove paused without force: got %v, want a conflict", err)
	}
	if err := v.e.Remove(ctx, c.ID, true); err != nil {
		t.Fatalf("remove paused with force: %v", err)
	}
	v.assertGone(c.ID)
}

// waitLog waits up to 10 s for want to appear in the container's json-file
// log, so that a test acts only once the container has reached that point.
func waitLog(t *testing.T, path, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never appeared in %s", want, path)
		}
	}
}
