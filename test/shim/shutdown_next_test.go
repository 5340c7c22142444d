package shim_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/shim"
)

// TestShutdownLeavesNextShimsFiles pins a restart that failed now and then
// with "shim.sock: no such file": a shim that answered its shutdown (its
// files gone) removed the socket path once more on its way out, which by
// then could be the next shim's, in the same state dir.
func TestShutdownLeavesNextShimsFiles(t *testing.T) {
	for i := range 10 {
		e := newEnv(t, "sleep", "1000")
		e.start(t, false, false)
		if _, err := e.client.Shutdown(ctxT(t, 10*time.Second), true); err != nil {
			t.Fatal(err)
		}
		// The next shim's socket, made as soon as the old one answered.
		next := filepath.Join(e.stateDir, shim.SocketName)
		if err := os.WriteFile(next, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if !gone(e.shimPid, 10*time.Second) {
			t.Fatalf("shim %d still runs after its shutdown", e.shimPid)
		}
		if _, err := os.Stat(next); err != nil {
			t.Fatalf("round %d: the old shim removed the next one's socket on its way out: %v", i, err)
		}
		os.Remove(next)
	}
}
