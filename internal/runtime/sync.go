package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// The runtime (parent) and the container's init (child) talk over a
// SOCK_SEQPACKET socket pair, one JSON message per packet:
//
//	parent (create/run)                        child (init)
//	  | --- spawn: clone new namespaces ---------> |  (C stage: enters its v1
//	  | <-- cgroup [usermap] [pid] --------------- |   cgroups, joins, pid fork;
//	  |  check the cgroup placement                |   see package nsenter)
//	  | --- config {initConfig} -----------------> |
//	  |  set resources, save state "creating"      |  cgroupns/timens, mounts
//	  | <-- hooks -------------------------------- |  (only if there are hooks)
//	  |  prestart + createRuntime hooks            |
//	  | --- ack ---------------------------------> |
//	  |                                            |  createContainer hooks,
//	  |                                            |  pivot_root, console, masks
//	  | <-- ready -------------------------------- |
//	  | --- ack ---------------------------------> |  (pdeathsig cleared just
//	  |  create: save "created", exit              |   before "ready")
//	  |                                            |  create: wait on exec.fifo
//	                     ... start opens exec.fifo |
//	                                               |  startContainer hooks,
//	  | <-- exec (run only) --------------------- |  caps, user, seccomp
//	  | <-- EOF: close-on-exec, execve succeeded - |  execve
//
// exec's process skips the config-to-ready part: it gets its config and
// execs. Any step of the child may answer {"type":"error"} instead; the
// parent then tears everything down and reports the message as the error.
// The resources and the state are written while init mounts the rootfs:
// they must be in place before the container's process runs, not before
// init starts working.
type msgType string

const (
	msgConfig  msgType = "config"
	msgUsermap msgType = "usermap"
	msgPid     msgType = "pid"
	msgCgroup  msgType = "cgroup" // the C stage has entered its v1 cgroups
	msgHooks   msgType = "hooks"
	msgAck     msgType = "ack"
	msgReady   msgType = "ready"
	msgExec    msgType = "exec"
	msgSeccomp msgType = "seccomp" // carries the seccomp listener fd
	msgError   msgType = "error"
)

type syncMsg struct {
	// fd is a file descriptor passed with the message (SCM_RIGHTS), or -1.
	fd    int
	Type  msgType     `json:"type"`
	Pid   int         `json:"pid,omitempty"`
	Init  *initConfig `json:"init,omitempty"`
	Error *InitError  `json:"error,omitempty"`
}

// InitError is an error that happened inside the container's init or exec
// process, reported back over the sync socket.
type InitError struct {
	Msg string `json:"msg"`
}

func (e *InitError) Error() string { return e.Msg }

// initMode says what the child process is for.
type initMode string

const (
	modeCreate initMode = "create" // container init; waits on exec.fifo
	modeRun    initMode = "run"    // container init; execs as soon as it is set up
	modeExec   initMode = "exec"   // a process exec'd into a running container
)

// initConfig is everything the child needs, sent in msgConfig.
type initConfig struct {
	Mode    initMode        `json:"mode"`
	ID      string          `json:"id"`
	Config  *config.Config  `json:"config"`
	Process *config.Process `json:"process,omitempty"` // exec: the process to run
	NoPivot bool            `json:"noPivot,omitempty"`
	// NoNewKeyring keeps the caller's session keyring.
	NoNewKeyring bool `json:"noNewKeyring,omitempty"`
	// ConsoleFd is the fd of the console socket connection, or -1.
	ConsoleFd int `json:"consoleFd"`
	// FifoFd is the O_PATH fd of exec.fifo (create mode), or -1.
	FifoFd int `json:"fifoFd"`
	// ExtraFds are inherited fds (LISTEN_FDS style) kept open for the
	// process: 3..3+ExtraFds-1 after the sync fds are closed.
	ExtraFds int `json:"extraFds,omitempty"`
	// SyncFd is the fd of the sync socket in the child.
	SyncFd int `json:"syncFd"`
	// InitPid is the container init's pid in the runtime's PID namespace
	// (for the state passed to hooks that init runs).
	InitPid int `json:"initPid"`
}

// maxMsg bounds one message; config messages with large seccomp profiles
// are the biggest.
const maxMsg = 4 << 20

// syncSocket is one end of the socket pair.
type syncSocket struct {
	f *os.File
	// onSeccomp forwards a seccomp listener fd received from the child
	// (parent side only).
	onSeccomp func(fd int) error
}

func newSyncPair() (parent, child *syncSocket, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("create sync socket pair: %w", err)
	}
	for _, fd := range fds {
		// As root, raise the buffer so that one packet can hold a large
		// config; errors are harmless (the default suits most configs).
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, maxMsg)
	}
	return &syncSocket{f: os.NewFile(uintptr(fds[0]), "sync-parent")},
		&syncSocket{f: os.NewFile(uintptr(fds[1]), "sync-child")}, nil
}

func (s *syncSocket) send(m *syncMsg) error {
	return s.sendFd(m, -1)
}

// sendFd sends m with fd attached (SCM_RIGHTS) unless fd is -1.
func (s *syncSocket) sendFd(m *syncMsg, fd int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMsg {
		return fmt.Errorf("sync message %s is %d bytes, above the %d limit", m.Type, len(b), maxMsg)
	}
	if fd < 0 {
		_, err = s.f.Write(b)
	} else {
		err = unix.Sendmsg(int(s.f.Fd()), b, unix.UnixRights(fd), nil, 0)
	}
	if err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// recv reads one message. io.EOF means the other side closed the socket.
func (s *syncSocket) recv() (*syncMsg, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, flags, err := recvmsg(s.f, buf, oob)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, io.EOF
		}
		if flags&unix.MSG_TRUNC != 0 {
			// Peeked too small a buffer: grow and read again.
			if len(buf) >= maxMsg {
				return nil, fmt.Errorf("sync message above %d bytes", maxMsg)
			}
			buf = make([]byte, maxMsg)
			continue
		}
		m := syncMsg{fd: -1}
		if oobn > 0 {
			if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(cms) == 1 {
				if fds, err := unix.ParseUnixRights(&cms[0]); err == nil && len(fds) == 1 {
					unix.CloseOnExec(fds[0])
					m.fd = fds[0]
				}
			}
		}
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			return nil, fmt.Errorf("decode sync message: %w", err)
		}
		return &m, nil
	}
}

// recvmsg peeks at the next packet to learn whether it fits buf, then
// reads it. With MSG_PEEK|MSG_TRUNC, n is the packet's full length.
func recvmsg(f *os.File, buf, oobBuf []byte) (n int, oob int, flags int, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, 0, 0, err
	}
	var opErr error
	err = rc.Read(func(fd uintptr) bool {
		var size int
		size, _, _, _, opErr = unix.Recvmsg(int(fd), nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if opErr == unix.EAGAIN {
			return false
		}
		if opErr != nil {
			return true
		}
		if size > len(buf) {
			flags = unix.MSG_TRUNC
			n = size
			return true
		}
		n, oob, flags, _, opErr = unix.Recvmsg(int(fd), buf, oobBuf, unix.MSG_CMSG_CLOEXEC)
		return opErr != unix.EAGAIN
	})
	if err == nil {
		err = opErr
	}
	if flags&unix.MSG_TRUNC != 0 && n > len(buf) {
		return n, 0, unix.MSG_TRUNC, err
	}
	return n, oob, flags &^ unix.MSG_TRUNC, err
}

// expect reads one message and checks its type; an error message from the
// child becomes the returned error.
func (s *syncSocket) expect(want msgType) (*syncMsg, error) {
	m, err := s.recv()
	if err != nil {
		return nil, err
	}
	if m.Type == msgError && m.Error != nil {
		return nil, m.Error
	}
	if m.Type != want {
		return nil, fmt.Errorf("sync: got %q, want %q", m.Type, want)
	}
	return m, nil
}

func (s *syncSocket) Close() error { return s.f.Close() }

// awaitExec waits for the child's exec message and then for the socket to
// close, which it does when execve succeeds (the socket is close-on-exec).
// An error message in between is the reason execve failed.
// execing says the exec message was already read.
func (s *syncSocket) awaitExec(sp *spawned, execing bool) error {
	for {
		m, err := s.recv()
		if err != nil {
			if isEOF(err) && execing {
				return nil
			}
			return sp.exitReason(err)
		}
		switch m.Type {
		case msgExec:
			execing = true
		case msgSeccomp:
			if err := s.handleSeccomp(m); err != nil {
				return err
			}
		case msgError:
			return m.Error
		default:
			return fmt.Errorf("sync: unexpected %q from init", m.Type)
		}
	}
}

// handleSeccomp forwards the listener fd of a msgSeccomp and acknowledges
// it; the child waits, so that no filtered syscall blocks before an agent
// has the fd.
func (s *syncSocket) handleSeccomp(m *syncMsg) error {
	if m.fd < 0 {
		return fmt.Errorf("sync: seccomp message without a file descriptor")
	}
	defer unix.Close(m.fd)
	if s.onSeccomp == nil {
		return fmt.Errorf("sync: unexpected seccomp listener")
	}
	if err := s.onSeccomp(m.fd); err != nil {
		return err
	}
	return s.send(&syncMsg{Type: msgAck})
}

// isEOF reports whether err means the peer hung up.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE)
}
