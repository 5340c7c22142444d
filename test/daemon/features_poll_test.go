package daemon_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// waitFor polls cond every 50 ms until it is true or timeout passes; it
// fails the test with what, naming the last value cond saw.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, v := cond()
		if ok {
			return
		}
		last = v
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen %q", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inspectField is capsa inspect -f format of name, without its newline.
func inspectField(d *daemontest.Daemon, name, format string) string {
	r := d.Capsa("inspect", "-f", format, name)
	return strings.TrimRight(r.Stdout, "\n")
}

const e2eSecond = time.Second

func readlinkHost(p string) (string, error) { return os.Readlink(p) }

// containsLine reports whether one of s's lines is line.
func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
