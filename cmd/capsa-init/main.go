// Command capsa-init is the tiny init that `--init` puts at PID 1 of a
// container (bound at /sbin/capsa-init): it starts the container's command,
// forwards every signal it gets to it, reaps every orphan the container's
// processes leave, and exits with the command's status (128+N when a
// signal N killed it), as docker-init (tini) does.
//
//	capsa-init -- CMD [ARG...]
//
// It is pure Go, static and small: it runs inside the container's root
// with nothing of it.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "capsa-init: usage: capsa-init -- CMD [ARG...]")
		os.Exit(2)
	}
	os.Exit(run(args))
}

// run starts args and supervises it; it returns the exit status to use.
func run(args []string) int {
	// Not PID 1 (a container sharing its PID namespace): orphans of the
	// command still come to us.
	if os.Getpid() != 1 {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "capsa-init: %v\n", err)
		return 127
	}
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		// Its own process group, the terminal's foreground one when
		// stdin is our controlling terminal, so that ^C reaches the
		// command as it would if it were PID 1.
		Sys: &syscall.SysProcAttr{Setpgid: true, Foreground: isTerminal(0), Ctty: 0},
	}
	pid, err := syscall.ForkExec(path, args, attr)
	if err != nil && attr.Sys.Foreground {
		// A terminal that is not our controlling one: no foreground.
		attr.Sys.Foreground = false
		pid, err = syscall.ForkExec(path, args, attr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "capsa-init: start %q: %v\n", args[0], err)
		return 126
	}
	for {
		sig := <-sigs
		if sig != unix.SIGCHLD {
			// Everything else is the command's; SIGURG is the Go
			// runtime's own.
			if sig != unix.SIGURG {
				_ = unix.Kill(pid, sig.(unix.Signal))
			}
			continue
		}
		if code, done := reap(pid); done {
			return code
		}
	}
}

// reap collects every exited child; done reports that the command itself
// exited, with the status to exit with.
func reap(cmd int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return code, done
		}
		if pid != cmd {
			continue
		}
		done = true
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
		case ws.Signaled():
			code = 128 + int(ws.Signal())
		}
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
