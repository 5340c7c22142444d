package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Run creates and starts a container. Detached, it returns once the
// container's process runs; in the foreground it forwards signals (and a
// terminal) to the container, waits for it, deletes it, and returns its
// exit status (128+signal if killed), as runc run does.
func (r *Runtime) Run(ctx context.Context, o CreateOpts, detach bool) (int, error) {
	var consoleConn, consoleOurs *os.File
	if o.ConsoleSocket == "" && !detach {
		// A terminal container in the foreground: we hold the console.
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("console socket pair: %w", err)
		}
		consoleOurs = os.NewFile(uintptr(pair[0]), "console")
		consoleConn = os.NewFile(uintptr(pair[1]), "console-peer")
		defer consoleOurs.Close()
		defer consoleConn.Close()
	}
	// Forward signals from before the process runs, so none is lost.
	var sigs chan os.Signal
	var sigsReady <-chan struct{}
	if !detach {
		var stop func()
		sigs, sigsReady, stop = notifyAll()
		defer stop()
	}
	c, p, err := r.create(ctx, o, modeRun, consoleConn)
	if err != nil {
		return -1, err
	}
	if sigsReady != nil {
		<-sigsReady
	}
	defer p.release()
	if consoleConn != nil {
		consoleConn.Close()
	}
	var console *os.File
	if c.state.Config.Process.Terminal && consoleOurs != nil {
		console, err = recvConsole(consoleOurs)
		if err != nil {
			_ = c.destroy(ctx)
			return -1, fmt.Errorf("container %q: %w", c.id, err)
		}
		defer console.Close()
	}
	if err := p.sock.awaitExec(p.sp, true); err != nil {
		_ = c.destroy(ctx)
		return -1, fmt.Errorf("container %q: %w", c.id, err)
	}
	c.state.Status = Running
	if err := c.saveState(); err != nil {
		return -1, err
	}
	c.runPoststart(ctx)
	if detach {
		return 0, nil
	}

	var copyDone sync.WaitGroup
	if console != nil {
		restore := proxyConsole(console, &copyDone)
		defer restore()
	}
	go func() {
		for s := range sigs {
			sig := s.(unix.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				// SIGCHLD is ours; SIGURG is the Go scheduler's.
				continue
			case unix.SIGWINCH:
				if console != nil {
					resizeFrom(console, os.Stdin)
				}
				continue
			}
			_ = unix.Kill(p.sp.Pid, sig)
		}
	}()
	ws, err := p.sp.wait()
	if err != nil {
		return -1, err
	}
	copyDone.Wait()
	if err := c.destroy(context.WithoutCancel(ctx)); err != nil {
		return exitCode(ws), err
	}
	return exitCode(ws), nil
}

// notifyAll starts relaying every signal to a channel. Registering all of
// them costs milliseconds (the Go runtime hands each signal to its signal
// goroutine and waits for the mask update, ~40 us each here), so it runs
// beside the container's creation: ready closes once every signal is
// registered. stop unregisters them, in the background for the same
// reason.
func notifyAll() (sigs chan os.Signal, ready <-chan struct{}, stop func()) {
	sigs = make(chan os.Signal, 64)
	done := make(chan struct{})
	go func() {
		signal.Notify(sigs)
		close(done)
	}()
	return sigs, done, func() {
		go func() {
			<-done
			signal.Stop(sigs)
		}()
	}
}

// exitCode is the shell's view of a wait status.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// recvConsole receives the pty master that init sends over the console
// socket.
func recvConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive console: no file descriptor in message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive console: no file descriptor in message")
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// proxyConsole copies between our stdio and the container's pty master,
// with our terminal (if stdin is one) in raw mode. It returns a function
// that restores the terminal.
func proxyConsole(console *os.File, done *sync.WaitGroup) func() {
	restore := func() {}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		if st, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
			restore = func() { _ = term.Restore(int(os.Stdin.Fd()), st) }
		}
		resizeFrom(console, os.Stdin)
	}
	go func() { _, _ = io.Copy(console, os.Stdin) }()
	done.Add(1)
	go func() {
		defer done.Done()
		// Ends with EIO when the last slave fd closes.
		_, _ = io.Copy(os.Stdout, console)
	}()
	return restore
}

// resizeFrom copies the window size of terminal from onto the pty.
func resizeFrom(console, from *os.File) {
	ws, err := unix.IoctlGetWinsize(int(from.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	_ = unix.IoctlSetWinsize(int(console.Fd()), unix.TIOCSWINSZ, ws)
}
