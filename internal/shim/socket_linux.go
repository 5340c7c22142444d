package shim

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The shim's sockets are plain file descriptors (golang.org/x/sys/unix),
// not package net: net's resolver, address and connection types would
// cost every shim code pages. A non-blocking socket wrapped by os.NewFile
// is served by the runtime's poller as net's are: Read and Write wait
// without a thread, and Close wakes them.

// listener is a listening unix socket.
type listener struct {
	f      *os.File
	closed atomic.Bool
}

// listenUnix listens on a filesystem socket of mode 0600. The umask makes
// the socket 0600 from the start, with no window in which a chmod has not
// yet happened; nothing else creates files while it is set.
func listenUnix(path string) (*listener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	old := unix.Umask(0o177)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Umask(old)
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "bind", Path: path, Err: err}
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "listen", Path: path, Err: err}
	}
	return &listener{f: os.NewFile(uintptr(fd), path)}, nil
}

// accept waits for a connection and returns it, non-blocking and
// close-on-exec; os.ErrClosed once Close is called.
func (l *listener) accept() (*os.File, error) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return nil, os.ErrClosed
	}
	var nfd int
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			// A connection reset before it was accepted: take the next.
			if aerr != unix.EINTR && aerr != unix.ECONNABORTED {
				return aerr != unix.EAGAIN
			}
		}
	})
	if l.closed.Load() {
		if err == nil && aerr == nil {
			unix.Close(nfd)
		}
		return nil, os.ErrClosed
	}
	if err == nil {
		err = aerr
	}
	if err != nil {
		return nil, os.NewSyscallError("accept4", err)
	}
	return os.NewFile(uintptr(nfd), "conn"), nil
}

// Close stops listening; a waiting accept returns os.ErrClosed.
func (l *listener) Close() error {
	l.closed.Store(true)
	return l.f.Close()
}

// serving says whether something accepts connections on the socket path.
func serving(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) == nil
}

// recvFD reads one message from conn and returns the first fd it carries
// (SCM_RIGHTS), closing any other; -1 if none came.
func recvFD(conn *os.File) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		_, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return -1, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return -1, err
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	if len(fds) == 0 {
		return -1, errors.New("no fd in the message")
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	return fds[0], nil
}
