// Package engine_test runs real containers through internal/engine, with
// the real capsa-shim and capsa-runtime, as root.
package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/mountinfo"
	"github.com/capsa-dev/capsa/internal/network"
	"github.com/capsa-dev/capsa/internal/network/nettest"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "test/engine: skipped, needs root")
		os.Exit(0)
	}
	// Shims whose engine is closed stay children of the test binary, which
	// reaps them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func binary(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := filepath.Abs("../../bin/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no %s at %s: run make build (or set %s)", name, p, env)
	}
	return p
}

// env is one engine on temporary roots.
type env struct {
	t   *testing.T
	cfg engine.Config
	e   *engine.Engine
}

// newEnv opens an engine on fresh roots and registers a cleanup that
// removes every container, unmounts and removes the roots, even if the
// test fails.
func newEnv(t *testing.T) *env {
	t.Helper()
	data := t.TempDir()
	// Short: shim sockets live under the run root.
	run, err := os.MkdirTemp("", "cer")
	if err != nil {
		t.Fatal(err)
	}
	bridge, subnet := nettest.Defaults(t)
	v := &env{t: t, cfg: engine.Config{
		DefaultBridge: bridge, DefaultSubnet: subnet, AddressPools: []network.AddressPool{nettest.Pool},
		DataRoot: data, RunRoot: run,
		Runtimes:       map[string]string{"capsa": binary(t, "CAPSA_RUNTIME", "capsa-runtime")},
		DefaultRuntime: "capsa",
		ShimPath:       binary(t, "CAPSA_SHIM", "capsa-shim"),
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}}
	t.Cleanup(v.cleanup)
	v.open()
	return v
}

// testWriter sends the engine's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (v *env) open() {
	v.t.Helper()
	e, err := engine.Open(context.Background(), v.cfg)
	if err != nil {
		v.t.Fatalf("open engine: %v", err)
	}
	v.e = e
}

func (v *env) cleanup() {
	ctx := context.Background()
	if v.e == nil {
		if e, err := engine.Open(ctx, v.cfg); err == nil {
			v.e = e
		}
	}
	if v.e != nil {
		cs, _ := v.e.List(ctx)
		for _, c := range cs {
			if err := v.e.Remove(ctx, c.ID, true); err != nil {
				v.t.Errorf("cleanup: %v", err)
			}
		}
		v.e.Close()
	}
	nettest.Cleanup(v.t, filepath.Join(v.cfg.DataRoot, "networks"), filepath.Join(v.cfg.RunRoot, "net"))
	// Anything still mounted under the roots goes, deepest first.
	for _, root := range []string{v.cfg.RunRoot, v.cfg.DataRoot} {
		mps := mountsUnder(root)
		for i := len(mps) - 1; i >= 0; i-- {
			_ = snapshot.UnmountAll(mps[i])
		}
	}
	os.RemoveAll(v.cfg.RunRoot)
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range mountinfo.Parse(b) {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

var applets = []string{"sh", "echo", "cat", "sleep", "true", "false"}

// busyboxTar is a root filesystem tar of the host's static busybox.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	return busyboxtest.Tar(t, applets...)
}

// importBusybox imports busybox:latest.
func (v *env) importBusybox() engine.ImageRef {
	v.t.Helper()
	ref, err := v.e.ImportImage(context.Background(), "busybox", bytes.NewReader(busyboxTar(v.t)), ocispec.ImageConfig{Cmd: []string{"sh"}})
	if err != nil {
		v.t.Fatalf("import busybox: %v", err)
	}
	return ref
}

// run creates and starts a busybox container running cmd.
func (v *env) run(name string, cmd ...string) engine.Info {
	v.t.Helper()
	ctx := context.Background()
	c, err := v.e.Create(ctx, engine.CreateOptions{Name: name, Image: "busybox", Cmd: cmd})
	if err != nil {
		v.t.Fatalf("create: %v", err)
	}
	if err := v.e.Start(ctx, c.ID); err != nil {
		v.t.Fatalf("start: %v", err)
	}
	return c
}

// waitCode waits (at most 20 s) for the container's exit code.
func (v *env) waitCode(id string) int {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code, err := v.e.Wait(ctx, id)
	if err != nil {
		v.t.Fatalf("wait %s: %v", id[:12], err)
	}
	return code
}

func (v *env) status(id string) engine.State {
	v.t.Helper()
	c, err := v.e.Inspect(context.Background(), id)
	if err != nil {
		v.t.Fatalf("inspect %s: %v", id[:12], err)
	}
	return c.State
}

// assertGone checks that nothing of container id is left on the machine.
func (v *env) assertGone(id string) {
	v.t.Helper()
	ctx := context.Background()
	if _, err := v.e.Inspect(ctx, id); err == nil {
		v.t.Errorf("container %s still has a record", id[:12])
	}
	for _, mp := range mountsUnder(v.cfg.RunRoot) {
		if strings.Contains(mp, id) {
			v.t.Errorf("mount left: %s", mp)
		}
	}
	sns, err := v.e.Snapshots(ctx)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, s := range sns {
		if s.Name == id {
			v.t.Errorf("snapshot left: %s", id)
		}
	}
	for _, d := range []string{filepath.Join(v.cfg.RunRoot, "containers", id), filepath.Join(v.cfg.DataRoot, "containers", id)} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			v.t.Errorf("directory left: %s", d)
		}
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/capsa/" + id)
	for _, cg := range cgs {
		v.t.Errorf("cgroup left: %s", cg)
	}
	if p := processWith(id); p != "" {
		v.t.Errorf("process left: %s", p)
	}
}

// processWith returns a process whose command line mentions s.
func processWith(s string) string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), s) {
			return filepath.Base(filepath.Dir(p)) + ": " + strings.ReplaceAll(string(b), "\x00", " ")
		}
	}
	return ""
}
