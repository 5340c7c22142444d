package daemon_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/daemontest"
)

// autostartScript runs in a private mount namespace whose /run, /var/lib,
// /var/log (and /etc/capsa, if the host has one) are empty tmpfs, in a
// network namespace of its own, so that
// capsa's default paths are the test's own. With CAPSA_HOST unset and no
// daemon on the default socket, the first command starts capsad; later
// ones use it. The trap removes the containers and stops that capsad by
// its pid whatever happens.
const autostartScript = `
set -eu
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /var/lib
mount -t tmpfs -o mode=755 tmpfs /var/log
if [ -d /etc/capsa ]; then mount -t tmpfs -o mode=755 tmpfs /etc/capsa; fi
unset CAPSA_HOST DOCKER_HOST
cleanup() {
	pid=$(cat /run/capsa/capsad.pid 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		for id in $("$BIN/capsa" ps -aq); do "$BIN/capsa" rm -f "$id" >/dev/null || true; done
		kill "$pid"
		i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	fi
}
trap cleanup EXIT
test ! -e /run/capsa/capsa.sock
echo "ps: $("$BIN/capsa" ps -q | wc -l)"
test -S /run/capsa/capsa.sock
pid1=$(cat /run/capsa/capsad.pid)
echo "log: $(test -s /var/log/capsa/capsad.log && echo yes)"
echo "data: $(test -f /var/lib/capsa/containers.db && echo yes)"
"$BIN/capsa" import -c 'CMD ["sh"]' - busybox:latest < "$TAR" >/dev/null
echo "run: $("$BIN/capsa" run --rm busybox echo hello)"
pid2=$(cat /run/capsa/capsad.pid)
echo "same daemon: $([ "$pid1" = "$pid2" ] && kill -0 "$pid1" && echo yes)"
`

// TestCLIStartsDaemon: capsa with no CAPSA_HOST and no daemon on the
// default socket starts capsad (once) and uses it.
func TestCLIStartsDaemon(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed: the default paths cannot be made private")
	}
	if err := exec.Command(unshare, "-m", "--propagation", "private", "true").Run(); err != nil {
		t.Skipf("no private mount namespace (unshare -m: %v): the default paths cannot be made private", err)
	}
	bin, err := filepath.Abs(daemontest.BinDir(t))
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(t.TempDir(), "busybox.tar")
	if err := os.WriteFile(tar, busyboxtest.Tar(t, "sh", "echo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A network namespace of its own too: that capsad's default network
	// (capsa0, its rules) is the one a real installation has, and must not
	// be made on the host.
	cmd := exec.Command(unshare, "-m", "-n", "--propagation", "private", "sh", "-c", autostartScript)
	cmd.Env = append(os.Environ(), "BIN="+bin, "TAR="+tar)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("autostart script: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	want := "ps: 0\nlog: yes\ndata: yes\nrun: hello\nsame daemon: yes"
	if got != want {
		t.Errorf("autostart script said:\n%s\nwant:\n%s", got, want)
	}
}
