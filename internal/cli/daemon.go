package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// daemonLog is where an auto-started capsad writes its output.
const daemonLog = "/var/log/capsa/capsad.log"

// daemonStartTimeout bounds the wait for an auto-started capsad's /_ping.
const daemonStartTimeout = 10 * time.Second

// findDaemon looks for capsad next to the running capsa binary first, then
// in PATH.
func findDaemon() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "capsad")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath("capsad")
}

// startDaemon starts capsad in its own session, detached from this
// process, with its output in daemonLog, and waits until cl's daemon
// answers /_ping.
func startDaemon(ctx context.Context, cl *client.Client) error {
	bin, err := findDaemon()
	if err != nil {
		return StatusError{Status: fmt.Sprintf("Cannot connect to the capsa daemon at %s and cannot start capsad: %v", DefaultHost, err), StatusCode: 1}
	}
	if err := os.MkdirAll(filepath.Dir(daemonLog), 0o755); err != nil {
		return fmt.Errorf("start capsad: %w", err)
	}
	logf, err := os.OpenFile(daemonLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start capsad: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("start capsad: %w", err)
	}
	defer devnull.Close()
	cmd := exec.Command(bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start capsad %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, daemonStartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := cl.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err == nil {
			// The daemon lives on after we exit; we neither wait for it
			// nor kill it.
			_ = cmd.Process.Release()
			return nil
		}
		select {
		case err := <-exited:
			return StatusError{Status: fmt.Sprintf("capsad exited at start (%v); see %s", err, daemonLog), StatusCode: 1}
		case <-ctx.Done():
			return StatusError{Status: fmt.Sprintf("capsad did not answer on %s within %s; see %s", DefaultHost, daemonStartTimeout, daemonLog), StatusCode: 1}
		case <-tick.C:
		}
	}
}
