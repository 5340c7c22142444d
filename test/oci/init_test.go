package oci_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/oci"
)

// initBin is capsa-init as make builds it.
func initBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAPSA_INIT"); p != "" {
		return p
	}
	p, err := filepath.Abs("../../bin/capsa-init")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no init binary at %s: run make build (or set CAPSA_INIT)", p)
	}
	return p
}

// zombies counts the zombies left after an orphan exits: the orphan's
// parent is then PID 1, capsa-init, and only its reaping removes it.
const zombies = `( sleep 0.1 & ); sleep 0.6
n=0; for s in /proc/[0-9]*/stat; do case "$(cut -d' ' -f3 $s)" in Z) n=$((n+1));; esac; done
echo "zombies $n"; tr '\0' ' ' < /proc/1/cmdline; echo`

// TestInit: with --init, PID 1 is capsa-init: it reaps orphans, passes
// the command's exit status on, and forwards signals to the command.
func TestInit(t *testing.T) {
	out, code := run(t, zombies+"\nexit 7", oci.WithInit(initBin(t)))
	if code != 7 || !strings.Contains(out, "zombies 0") || !strings.Contains(out, oci.InitPath+" -- /bin/sh -c") {
		t.Errorf("with --init: exit %d, output %q; want 7, no zombie, capsa-init as PID 1", code, out)
	}

	// SIGTERM to PID 1 reaches the command through the init; a shell
	// that is PID 1 itself never gets it (the kernel drops signals PID 1
	// has no handler for).
	script := "kill -TERM 1; sleep 3; echo survived"
	if out, code := run(t, script, oci.WithInit(initBin(t))); code != 143 || strings.Contains(out, "survived") {
		t.Errorf("SIGTERM to capsa-init: exit %d, output %q; want 143 from the command", code, out)
	}
	if out, code := run(t, script); code != 0 || !strings.Contains(out, "survived") {
		t.Errorf("SIGTERM to a shell as PID 1: exit %d, output %q; want it ignored", code, out)
	}
}
