package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/capsa-dev/capsa/internal/shim"
)

// startHealthcheck runs c's healthcheck, if it has one, while c runs.
func (e *Engine) startHealthcheck(c *Container) {
	c.mu.Lock()
	hc := c.rec.Healthcheck
	if !hc.active() || c.healthCancel != nil {
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(e.monCtx)
	c.healthCancel = cancel
	id, started := c.rec.ID, c.rec.State.StartedAt
	c.mu.Unlock()
	interval := orDuration(hc.Interval, defaultHealthInterval)
	startInterval := orDuration(hc.StartInterval, interval)
	e.monWG.Add(1)
	go func() {
		defer e.monWG.Done()
		for {
			wait := interval
			inStart := hc.StartPeriod > 0 && time.Since(started) < hc.StartPeriod
			if inStart {
				wait = startInterval
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			res := e.probe(ctx, id, hc)
			if ctx.Err() != nil {
				return
			}
			inStart = hc.StartPeriod > 0 && time.Since(started) < hc.StartPeriod
			e.recordHealth(c, res, inStart, orInt(hc.Retries, defaultHealthRetries))
		}
	}()
}

// stopHealthcheck ends c's healthcheck loop.
func (e *Engine) stopHealthcheck(c *Container) {
	c.mu.Lock()
	cancel := c.healthCancel
	c.healthCancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// probe runs the healthcheck's command once in container id.
func (e *Engine) probe(ctx context.Context, id string, hc *HealthConfig) HealthResult {
	res := HealthResult{Start: time.Now().UTC(), ExitCode: -1}
	fail := func(msg string) HealthResult {
		res.End, res.Output = time.Now().UTC(), msg
		return res
	}
	cmd := hc.Test[1:]
	if hc.Test[0] == "CMD-SHELL" {
		cmd = []string{"/bin/sh", "-c", hc.Test[1]}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	execID := "health-" + hex.EncodeToString(b[:])
	proc, err := e.execProcess(ctx, &execRecord{containerID: id, cfg: ExecConfig{Cmd: cmd}})
	if err != nil {
		return fail(err.Error())
	}
	timeout := orDuration(hc.Timeout, defaultHealthTimeout)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl := e.client(id)
	// dockerd reports a check's exec as any other's.
	attrs := map[string]string{"execID": execID}
	e.emit(Event{Type: "container", Action: "exec_create: " + joinArgs(cmd), ID: id, Attributes: attrs})
	_, conn, err := cl.Exec(pctx, shim.ExecRequest{ID: execID, Process: proc})
	if err != nil {
		return fail(err.Error())
	}
	e.emit(Event{Type: "container", Action: "exec_start: " + joinArgs(cmd), ID: id, Attributes: attrs})
	out := &boundedBuffer{max: healthOutputMax}
	done := make(chan error, 1)
	go func() { done <- shim.Demux(conn, out, out) }()
	select {
	case <-done:
		conn.Close()
	case <-pctx.Done():
		conn.Close()
		kctx, kcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = cl.KillExec(kctx, execID, "KILL")
		kcancel()
		return fail(fmt.Sprintf("Health check exceeded timeout (%s)", timeout))
	}
	st, err := cl.WaitExec(pctx, execID)
	if err != nil {
		return fail(err.Error())
	}
	res.End, res.ExitCode, res.Output = time.Now().UTC(), st.ExitCode, out.buf.String()
	e.emit(Event{Type: "container", Action: "exec_die", ID: id, Attributes: map[string]string{"execID": execID, "exitCode": strconv.Itoa(st.ExitCode)}})
	return res
}

// recordHealth adds a probe's result to c's health and moves its status.
func (e *Engine) recordHealth(c *Container, res HealthResult, inStart bool, retries int) {
	var before, after string
	err := e.setState(c, "", func(s *State) {
		if s.Health == nil {
			s.Health = &Health{Status: HealthStarting}
		}
		h := s.Health
		before = h.Status
		h.Log = append(h.Log, res)
		if len(h.Log) > healthLogMax {
			h.Log = h.Log[len(h.Log)-healthLogMax:]
		}
		switch {
		case res.ExitCode == 0:
			h.Status, h.FailingStreak = HealthHealthy, 0
		case inStart && h.Status == HealthStarting:
			// Failures in the start period do not count.
		default:
			h.FailingStreak++
			if h.FailingStreak >= retries {
				h.Status = HealthUnhealthy
			}
		}
		after = h.Status
	})
	if err != nil {
		return
	}
	if after != before {
		e.emit(Event{Type: "container", Action: "health_status: " + after, ID: c.rec.ID})
	}
}

// boundedBuffer keeps the first max bytes written to it.
type boundedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orInt(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}
