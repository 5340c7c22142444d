package runtime

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// setupConsole allocates the container's pty from the devpts inside its
// root, makes the slave the process's stdio and controlling terminal,
// binds it on /dev/console (for the container init), and sends the master
// over the console socket (fd consoleFd) to whoever holds the other end.
// The caller has called setsid.
func setupConsole(consoleFd int, proc *config.Process, bindConsole bool) error {
	if consoleFd < 0 {
		return fmt.Errorf("process.terminal is true but no console socket was passed")
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx in the container: %w", err)
	}
	defer master.Close()
	mfd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("get pty number: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	// TIOCGPTPEER opens the slave through the master, without a path
	// lookup that a racing container process could redirect.
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		return fmt.Errorf("open pty slave: %w", e)
	}
	sfd := int(r)
	defer unix.Close(sfd)
	if proc.ConsoleRows > 0 || proc.ConsoleCols > 0 {
		ws := &unix.Winsize{Row: proc.ConsoleRows, Col: proc.ConsoleCols}
		if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	if bindConsole {
		// Inside the container's root already: a symlink here can only
		// point within it. O_NOFOLLOW refuses it anyway.
		fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return fmt.Errorf("create /dev/console: %w", err)
		}
		unix.Close(fd)
		if err := unix.Mount(slavePath, "/dev/console", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on /dev/console: %w", slavePath, err)
		}
	}
	if err := unix.Sendmsg(consoleFd, []byte(slavePath), unix.UnixRights(mfd), nil, 0); err != nil {
		return fmt.Errorf("send pty master to the console socket: %w", err)
	}
	unix.Close(consoleFd)
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(sfd, fd, 0); err != nil {
			return fmt.Errorf("dup pty slave to fd %d: %w", fd, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}
