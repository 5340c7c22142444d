// Package runtime_test runs real containers through the capsa-runtime CLI,
// as containerd or a person would, and checks what the container sees.
package runtime_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// runtimeBin is the binary under test.
func runtimeBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAPSA_RUNTIME"); p != "" {
		return p
	}
	p, err := filepath.Abs("../../bin/capsa-runtime")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no runtime binary at %s: run make build (or set CAPSA_RUNTIME)", p)
	}
	return p
}

var applets = []string{"sh", "ls", "cat", "echo", "hostname", "id", "ps", "sleep", "true", "false",
	"grep", "head", "wc", "stat", "mknod", "mount", "readlink", "test", "touch", "mkdir", "ulimit", "env", "kill", "pwd", "tty", "rm", "mv"}

var (
	dirsMu sync.Mutex
	// dirs are the bundle directories this suite made; the end-of-suite
	// check looks for mounts left under them.
	dirs []string
)

func suiteDirs() []string {
	dirsMu.Lock()
	defer dirsMu.Unlock()
	return append([]string(nil), dirs...)
}

// rootfs makes a busybox root filesystem in a new temp dir.
func rootfs(t *testing.T) string {
	t.Helper()
	bundle := t.TempDir()
	dirsMu.Lock()
	dirs = append(dirs, bundle)
	dirsMu.Unlock()
	return busyboxtest.Rootfs(t, filepath.Join(bundle, "rootfs"), applets...)
}

// bundle is an OCI bundle under test.
type bundle struct {
	dir  string
	spec *specs.Spec
}

// newBundle makes a bundle whose process runs args, without a terminal.
func newBundle(t *testing.T, args ...string) *bundle {
	t.Helper()
	rfs := rootfs(t)
	s := config.DefaultSpec(false)
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Path = rfs
	// Every container's cgroup under capsa's own test parent.
	s.Linux.CgroupsPath = ""
	return &bundle{dir: filepath.Dir(rfs), spec: s}
}

func (b *bundle) save(t *testing.T) {
	t.Helper()
	data, err := json.MarshalIndent(b.spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rt runs the runtime CLI with its own state root.
type rt struct {
	bin  string
	root string
}

func newRT(t *testing.T) *rt {
	t.Helper()
	r := &rt{bin: runtimeBin(t), root: t.TempDir()}
	t.Cleanup(func() {
		// Whatever a test left behind: kill and delete it.
		ids, _ := os.ReadDir(r.root)
		for _, id := range ids {
			if id.IsDir() && !strings.HasPrefix(id.Name(), ".") {
				_ = exec.Command(r.bin, "--root", r.root, "delete", "--force", id.Name()).Run()
			}
		}
	})
	return r
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// run runs the runtime with args and returns what it printed.
func (r *rt) run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(r.bin, append([]string{"--root", r.root}, args...)...)
	// Files, not pipes: a detached container inherits the runtime's stdio
	// and would hold a pipe open long after the runtime has exited.
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	err = cmd.Run()
	ob, _ := os.ReadFile(out.Name())
	eb, _ := os.ReadFile(errf.Name())
	res := result{stdout: string(ob), stderr: string(eb)}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return res
}

// mustRun runs the runtime and fails the test on a non-zero exit.
func (r *rt) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	res := r.run(t, args...)
	if res.code != 0 {
		t.Fatalf("capsa-runtime %s: %v", strings.Join(args, " "), res)
	}
	return res.stdout
}

// runIn runs a one-shot container from b and returns its output.
func (r *rt) runIn(t *testing.T, b *bundle) result {
	t.Helper()
	b.save(t)
	return r.run(t, "run", "--bundle", b.dir, containerID(t))
}

var idMu sync.Mutex
var idN int

// containerID is a unique, valid container id for t.
func containerID(t *testing.T) string {
	idMu.Lock()
	defer idMu.Unlock()
	idN++
	name := strings.NewReplacer("/", "-", " ", "-", "#", "-").Replace(t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("%s-%d-%d", name, os.Getpid(), idN)
}
