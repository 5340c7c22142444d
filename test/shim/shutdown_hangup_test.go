package shim_test

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/shim"
)

// TestShutdownClientHangsUp pins a shim that lived on forever: a shutdown
// whose client went away before the answer (capsad killed mid-shutdown, a
// client's deadline passed) removed the socket but never ended the shim,
// which then nothing could reach.
func TestShutdownClientHangsUp(t *testing.T) {
	e := newEnv(t, "sleep", "1000")
	e.start(t, false, false)
	conn, err := net.Dial("unix", filepath.Join(e.stateDir, shim.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(`{"op":"shutdown","force":true}` + "\n")); err != nil {
		t.Fatal(err)
	}
	conn.Close() // gone before the answer
	if !gone(e.shimPid, 15*time.Second) {
		t.Fatalf("shim %d still runs after a shutdown whose client hung up", e.shimPid)
	}
}
