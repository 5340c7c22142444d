package daemon_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// statusFields is the Cap*, NoNewPrivs and Seccomp lines of
// /proc/self/status inside a container run with args.
func statusFields(t *testing.T, d *daemontest.Daemon, args ...string) map[string]string {
	t.Helper()
	args = append(append([]string{"run", "--rm"}, args...), "busybox", "cat", "/proc/self/status")
	out := d.MustCapsa(args...)
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// hostBounding is this process's capability bounding set: --privileged
// gives the container all the capabilities the host has.
func hostBounding(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return ""
}

// TestFeatureSecurity: --init, docker's default capabilities and seccomp
// profile, --privileged, --cap-add/--cap-drop, seccomp=unconfined,
// --read-only, the masked and read-only /proc paths.
func TestFeatureSecurity(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	// --init: PID 1 is capsa-init, running the command; orphans are reaped.
	r := d.Capsa("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline; echo; echo $$")
	if f := strings.Split(strings.TrimSpace(r.Stdout), "\n"); r.Code != 0 || len(f) != 2 ||
		!strings.HasPrefix(f[0], "/sbin/capsa-init\x00--\x00sh\x00-c\x00") || f[1] == "1" {
		t.Errorf("run --init: PID 1's cmdline and the shell's pid: %v", r)
	}
	d.MustCapsa("run", "-d", "--name", "init", "--init", "busybox", "sh", "-c", "sleep 1000")
	if s := inspectField(d, "init", "{{.HostConfig.Init}}"); s != "true" {
		t.Errorf("HostConfig.Init: %q", s)
	}
	// Make orphans: their parent (a subshell) exits at once, so they are
	// re-parented to PID 1, which must reap them when they exit.
	d.MustCapsa("exec", "init", "sh", "-c", "(sleep 0.2 & sleep 0.2 &) ; true")
	waitFor(t, 5*time.Second, "the orphans to be reaped by capsa-init", func() (bool, string) {
		out := d.MustCapsa("exec", "init", "ps", "-o", "pid,ppid,stat,comm")
		return strings.Count(out, "sleep") == 1 && !strings.Contains(out, " Z "), out
	})
	// The exit code passes through capsa-init, a signal's too.
	if r := d.Capsa("run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"); r.Code != 7 {
		t.Errorf("run --init exit 7: %v", r)
	}
	d.MustCapsa("run", "-d", "--name", "initterm", "--init", "busybox", "sleep", "1000")
	t0 := time.Now()
	d.MustCapsa("stop", "-t", "5", "initterm")
	// sleep as PID 1 would ignore TERM; under capsa-init it gets it.
	if el := time.Since(t0); el > 3*time.Second {
		t.Errorf("stop of sleep under --init took %v: TERM was not forwarded", el)
	}
	if s := inspectField(d, "initterm", "{{.State.ExitCode}}"); s != "143" {
		t.Errorf("exit code of sleep killed by TERM under --init: %s, want 143", s)
	}

	// docker's defaults: its 14 capabilities, seccomp filter mode.
	def := statusFields(t, d)
	if def["CapEff"] != "00000000a80425fb" || def["CapBnd"] != "00000000a80425fb" || def["Seccomp"] != "2" || def["NoNewPrivs"] != "0" {
		t.Errorf("default security: CapEff %s CapBnd %s Seccomp %s NoNewPrivs %s; want docker's a80425fb, seccomp 2, NoNewPrivs 0",
			def["CapEff"], def["CapBnd"], def["Seccomp"], def["NoNewPrivs"])
	}
	// A user other than root has no effective capabilities, the same bounding set.
	u := statusFields(t, d, "-u", "1000")
	if u["CapEff"] != "0000000000000000" || u["CapBnd"] != "00000000a80425fb" {
		t.Errorf("-u 1000: CapEff %s CapBnd %s", u["CapEff"], u["CapBnd"])
	}
	// --privileged: every capability the host has (dockerd asks for all
	// of them and fails when the host lacks one), no seccomp.
	p := statusFields(t, d, "--privileged")
	if want := hostBounding(t); p["CapEff"] != want || p["Seccomp"] != "0" {
		t.Errorf("--privileged: CapEff %s Seccomp %s; want the host's %s and 0", p["CapEff"], p["Seccomp"], want)
	}
	if s := statusFields(t, d, "--security-opt", "seccomp=unconfined"); s["Seccomp"] != "0" || s["CapEff"] != "00000000a80425fb" {
		t.Errorf("seccomp=unconfined: Seccomp %s CapEff %s", s["Seccomp"], s["CapEff"])
	}
	if s := statusFields(t, d, "--cap-drop", "ALL"); s["CapEff"] != "0000000000000000" || s["CapBnd"] != "0000000000000000" {
		t.Errorf("--cap-drop ALL: CapEff %s CapBnd %s", s["CapEff"], s["CapBnd"])
	}
	if s := statusFields(t, d, "--cap-drop", "ALL", "--cap-add", "CHOWN"); s["CapEff"] != "0000000000000001" {
		t.Errorf("--cap-drop ALL --cap-add CHOWN: CapEff %s", s["CapEff"])
	}
	if s := statusFields(t, d, "--cap-add", "SYS_ADMIN"); s["CapEff"] != "00000000a82425fb" {
		t.Errorf("--cap-add SYS_ADMIN: CapEff %s", s["CapEff"])
	}
	if s := statusFields(t, d, "--cap-drop", "NET_RAW", "--cap-drop", "chown"); s["CapEff"] != fmt.Sprintf("%016x", 0xa80425fb&^(1<<13|1<<0)) {
		t.Errorf("--cap-drop NET_RAW --cap-drop chown: CapEff %s", s["CapEff"])
	}
	if s := statusFields(t, d, "--security-opt", "no-new-privileges"); s["NoNewPrivs"] != "1" {
		t.Errorf("--security-opt no-new-privileges: NoNewPrivs %s", s["NoNewPrivs"])
	}
	if r := d.Capsa("run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "NOT_A_CAP") {
		t.Errorf("--cap-add NOT_A_CAP: %v", r)
	}
	// The default seccomp profile refuses what docker's refuses.
	if r := d.Capsa("run", "--rm", "busybox", "unshare", "-U", "true"); r.Code == 0 {
		t.Errorf("unshare -U under the default profile succeeded: %v", r)
	}

	// --read-only: the rootfs refuses writes; /dev/shm still takes them.
	r = d.Capsa("run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /x 2>&1; touch /tmp/x 2>&1; touch /dev/shm/x && echo shm-ok")
	if r.Code != 0 || strings.Count(r.Stdout, "Read-only file system") != 2 || !strings.Contains(r.Stdout, "shm-ok") {
		t.Errorf("--read-only: %v", r)
	}
	r = d.Capsa("run", "--rm", "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/run:size=1m,mode=700", "--shm-size", "2m", "busybox", "sh", "-c",
		"touch /tmp/x && stat -c %a /run && df -k /run /dev/shm | tail -n 2 | awk '{print $2}'")
	if r.Code != 0 || r.Stdout != "700\n1024\n2048\n" {
		t.Errorf("--read-only --tmpfs /tmp --tmpfs /run:size=1m,mode=700 --shm-size 2m: %v", r)
	}

	// Masked and read-only paths, as docker's.
	r = d.Capsa("run", "--rm", "busybox", "sh", "-c",
		"wc -c < /proc/timer_list; wc -c < /proc/keys; ls -A /proc/acpi /sys/firmware | wc -w; echo x > /proc/sys/kernel/hostname; cat /proc/kcore 2>/dev/null | wc -c")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != 0 || len(lines) != 4 || strings.TrimSpace(lines[0]) != "0" || strings.TrimSpace(lines[1]) != "0" ||
		strings.TrimSpace(lines[2]) != "2" || !strings.Contains(r.Stderr, "hostname: Read-only file system") {
		t.Errorf("masked and read-only /proc paths: %v", r)
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(lines[len(lines)-1])); n != 0 {
			t.Errorf("/proc/kcore is readable in the container")
		}
	}
	// --privileged unmasks them.
	r = d.Capsa("run", "--rm", "--privileged", "busybox", "sh", "-c", "mount | grep -c -E ' /proc/(timer_list|keys|sys|bus) ' || true")
	if strings.TrimSpace(r.Stdout) != "0" {
		t.Errorf("--privileged still masks /proc paths: %v", r)
	}
}
