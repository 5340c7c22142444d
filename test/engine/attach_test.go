package engine_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/shim"
)

// TestAttachBeforeStart is docker run's order: the attach is registered,
// then the container starts; the attach sees its output from the first
// byte, even for a command that is done at once. (The API used to answer
// the attach before it was registered, and a start that came first lost
// the output: docker run printed nothing, now and then.)
func TestAttachBeforeStart(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	for i := range 5 {
		c, err := v.e.Create(ctx, engine.CreateOptions{Image: "busybox", Cmd: []string{"echo", "first-line"}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.e.PrepareAttach(c.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		// The start comes first; the attach connects while it runs.
		started := make(chan error, 1)
		go func() { started <- v.e.Start(ctx, c.ID) }()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := p.Connect(cctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := shim.Demux(conn, &out, &out); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		if out.String() != "first-line\n" {
			t.Fatalf("run %d: attach got %q, want the whole output", i, out.String())
		}
		if _, err := v.e.Wait(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if err := v.e.Remove(ctx, c.ID, false); err != nil {
			t.Fatal(err)
		}
	}
}
