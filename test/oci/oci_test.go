// Package oci_test runs busybox containers from specs that internal/oci
// generates, through capsa-runtime, and checks from inside that they are
// Docker's containers: capabilities, the seccomp filter, masked paths,
// --privileged, --user and --read-only.
package oci_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/oci"
)

func runtimeBin(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
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

var applets = []string{"sh", "cat", "grep", "wc", "unshare", "id", "touch", "echo", "true", "head", "cut", "sleep", "kill", "tr"}

// rootfs makes a busybox root filesystem in a new bundle directory.
func rootfs(t *testing.T) string {
	t.Helper()
	return busyboxtest.Rootfs(t, filepath.Join(t.TempDir(), "rootfs"), applets...)
}

var seq int

// run generates a spec with opts for a shell script, runs it to
// completion, and returns its output; the container is deleted whatever
// happens.
func run(t *testing.T, script string, opts ...oci.SpecOpt) (string, int) {
	t.Helper()
	bin := runtimeBin(t)
	rfs := rootfs(t)
	bundle := filepath.Dir(rfs)
	all := append([]oci.SpecOpt{
		oci.WithRootfs(rfs, false),
		oci.WithProcessArgs("/bin/sh", "-c", script),
		// Under capsa-runtime's own parent cgroup.
		oci.WithCgroupsPath(""),
	}, opts...)
	s, err := oci.Generate(context.Background(), all...)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	writeSpec(t, bundle, s)
	root := t.TempDir()
	seq++
	id := fmt.Sprintf("oci-%d-%d", os.Getpid(), seq)
	t.Cleanup(func() {
		if out, err := exec.Command(bin, "--root", root, "delete", "--force", id).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "not exist") && !strings.Contains(string(out), "not found") {
			t.Logf("delete %s: %v: %s", id, err, out)
		}
	})
	cmd := exec.Command(bin, "--root", root, "run", "--bundle", bundle, id)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("exit %d, stdout:\n%s", code, stdout.String())
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String(), code
}

func writeSpec(t *testing.T, bundle string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fields parses "key=value" lines.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// probe prints what the checks read, one key=value per line.
const probe = `
echo "capeff=$(grep CapEff: /proc/self/status | cut -f2)"
echo "seccomp=$(grep Seccomp: /proc/self/status | cut -f2)"
echo "nnp=$(grep NoNewPrivs: /proc/self/status | cut -f2)"
unshare -U true 2>/tmp/err; echo "unshare=$? $(cat /tmp/err)"
echo "timer_list=$(cat /proc/timer_list 2>/dev/null | wc -c)"
echo "nofile=$(ulimit -n):$(ulimit -Hn)"
`

func hostCapBnd(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return ""
}

func TestDefaultContainer(t *testing.T) {
	out, code := run(t, probe)
	if code != 0 {
		t.Fatalf("exit %d, output %q", code, out)
	}
	f := fields(out)
	if f["capeff"] != "00000000a80425fb" {
		t.Errorf("CapEff: got %q, want Docker's default set 00000000a80425fb", f["capeff"])
	}
	if f["seccomp"] != "2" {
		t.Errorf("Seccomp: got %q, want 2 (filter)", f["seccomp"])
	}
	if f["nnp"] != "0" {
		t.Errorf("NoNewPrivs: got %q, want 0 (Docker's default)", f["nnp"])
	}
	// Docker's profile allows unshare only with CAP_SYS_ADMIN: EPERM.
	if !strings.HasPrefix(f["unshare"], "1 ") || !strings.Contains(f["unshare"], "Operation not permitted") {
		t.Errorf("unshare -U: got %q, want a failure with EPERM", f["unshare"])
	}
	if f["timer_list"] != "0" {
		t.Errorf("masked /proc/timer_list: read %q bytes, want 0", f["timer_list"])
	}
	var hard uint64 = 1048576
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 5 && f[0] == "Max" && f[1] == "open" {
				if n, err := strconv.ParseUint(f[4], 10, 64); err == nil {
					hard = min(hard, n)
				}
			}
		}
	}
	if want := fmt.Sprintf("%d:%d", min(1024, hard), hard); f["nofile"] != want {
		t.Errorf("nofile: got %q, want %q", f["nofile"], want)
	}
}

// TestUnshareControl shows that the EPERM above is the filter's: with
// the same capabilities and no filter, unshare -U works.
func TestUnshareControl(t *testing.T) {
	out, code := run(t, probe, oci.WithSeccompUnconfined())
	f := fields(out)
	if code != 0 || f["seccomp"] != "0" || !strings.HasPrefix(f["unshare"], "0") {
		t.Errorf("exit %d, seccomp %q, unshare %q; want 0, 0, success", code, f["seccomp"], f["unshare"])
	}
}

func TestPrivilegedContainer(t *testing.T) {
	out, code := run(t, probe, oci.WithPrivileged())
	if code != 0 {
		t.Fatalf("exit %d, output %q", code, out)
	}
	f := fields(out)
	if want := hostCapBnd(t); f["capeff"] != want {
		t.Errorf("CapEff: got %q, want every capability the host can give, %q", f["capeff"], want)
	}
	if f["seccomp"] != "0" {
		t.Errorf("Seccomp: got %q, want 0", f["seccomp"])
	}
	if f["timer_list"] == "0" {
		t.Errorf("/proc/timer_list: read empty, want it unmasked")
	}
}

func TestUserAndReadonly(t *testing.T) {
	out, code := run(t, `echo "id=$(id -u):$(id -g):$(id -G)"; echo "home=$HOME"; touch /x 2>/dev/null; echo "touch=$?"`,
		oci.WithUser("user"), oci.WithReadonlyRootfs(true))
	if code != 0 {
		t.Fatalf("exit %d, output %q", code, out)
	}
	f := fields(out)
	if f["id"] != "1000:1000:1000 29" || f["home"] != "/home/user" || f["touch"] != "1" {
		t.Errorf("got id %q home %q touch %q; want 1000:1000:1000 29, /home/user, 1", f["id"], f["home"], f["touch"])
	}
}

// TestResources checks that -m, --memory-swap's default, --pids-limit
// and --cpus reach the container's cgroup, on v1 or v2.
func TestResources(t *testing.T) {
	script := `
for f in memory/memory.limit_in_bytes memory.max; do [ -f /sys/fs/cgroup/$f ] && echo "mem=$(cat /sys/fs/cgroup/$f)"; done
for f in memory/memory.memsw.limit_in_bytes; do [ -f /sys/fs/cgroup/$f ] && echo "memsw=$(cat /sys/fs/cgroup/$f)"; done
for f in memory.swap.max; do [ -f /sys/fs/cgroup/$f ] && echo "swap=$(cat /sys/fs/cgroup/$f)"; done
for f in pids/pids.max pids.max; do [ -f /sys/fs/cgroup/$f ] && echo "pids=$(cat /sys/fs/cgroup/$f)"; done
for f in cpu/cpu.cfs_quota_us cpu,cpuacct/cpu.cfs_quota_us; do [ -f /sys/fs/cgroup/$f ] && echo "quota=$(cat /sys/fs/cgroup/$f)"; done
[ -f /sys/fs/cgroup/cpu.max ] && echo "cpumax=$(cat /sys/fs/cgroup/cpu.max)"
true`
	out, code := run(t, script, oci.WithMemoryLimit(64<<20), oci.WithPidsLimit(50), oci.WithCPUs(0.5))
	if code != 0 {
		t.Fatalf("exit %d, output %q", code, out)
	}
	f := fields(out)
	if f["mem"] != strconv.Itoa(64<<20) {
		t.Errorf("memory limit: got %q, want %d", f["mem"], 64<<20)
	}
	// memory+swap is twice the memory: memsw on v1, the swap alone on v2.
	if v, ok := f["memsw"]; ok && v != strconv.Itoa(128<<20) {
		t.Errorf("memory.memsw.limit_in_bytes: got %q, want %d", v, 128<<20)
	}
	if v, ok := f["swap"]; ok && v != strconv.Itoa(64<<20) {
		t.Errorf("memory.swap.max: got %q, want %d", v, 64<<20)
	}
	if f["pids"] != "50" {
		t.Errorf("pids.max: got %q, want 50", f["pids"])
	}
	if f["quota"] != "50000" && f["cpumax"] != "50000 100000" {
		t.Errorf("cpu quota: got quota %q cpu.max %q, want 50000 per 100000", f["quota"], f["cpumax"])
	}
}
