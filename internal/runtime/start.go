package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Start starts a created container: its init, blocked on exec.fifo, goes
// on to exec the container's process. Poststart hooks then run.
func (c *Container) Start(ctx context.Context) error {
	if err := check(c.id, c.Status(), OpStart); err != nil {
		return err
	}
	if err := c.openFifo(ctx); err != nil {
		return err
	}
	c.state.Status = Running
	if err := c.saveState(); err != nil {
		return err
	}
	c.runPoststart(ctx)
	return nil
}

// openFifo reads init's byte from exec.fifo, which releases it, and
// removes the fifo (its absence is what marks the container started).
func (c *Container) openFifo(ctx context.Context) error {
	path := filepath.Join(c.dir, fifoName)
	// Non-blocking: a blocking open would hang forever if init died.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &ErrWrongState{ID: c.id, Op: OpStart, Status: Running}
		}
		return fmt.Errorf("container %q: open exec fifo: %w", c.id, err)
	}
	defer f.Close()
	fd := int(f.Fd())
	buf := make([]byte, 1)
	for {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			break
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("container %q: read exec fifo: %w", c.id, err)
		}
		if !c.initAlive() {
			return fmt.Errorf("container %q: init process exited before start", c.id)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Until init has reopened the fifo there is no writer and poll
		// waits; a writer's byte makes it readable.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(pfd, 50)
		if pfd[0].Revents&unix.POLLHUP != 0 && pfd[0].Revents&unix.POLLIN == 0 {
			// A writer came and went without a byte: init failed.
			time.Sleep(time.Millisecond)
		}
	}
	// init holds its end open until execve closes it (close-on-exec):
	// the end of the fifo is the process running, which is when the spec
	// wants start to return and the poststart hooks to run.
	for {
		n, err := unix.Read(fd, buf)
		if n == 0 && err == nil {
			break
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("container %q: read exec fifo: %w", c.id, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(pfd, 100)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("container %q: remove exec fifo: %w", c.id, err)
	}
	return nil
}

// runPoststart runs the poststart hooks. Their failures are logged, not
// returned: the spec says the container keeps running.
func (c *Container) runPoststart(ctx context.Context) {
	runHooksWarn(ctx, "poststart", c.id, c.state.Config.Hooks.Poststart, specState(c, string(Running), c.state.InitPid))
}
