package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/nsenter"
	"github.com/capsa-dev/capsa/internal/rootfs"
	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// envInit marks this binary's process as a container init or exec process.
const envInit = "_CAPSA_INIT"

func init() {
	if os.Getenv(envInit) == "" {
		return
	}
	// Credentials, capabilities, the no_new_privs bit and seccomp filters
	// belong to a thread, and execve keeps those of the thread that calls
	// it. So the whole setup runs on the main thread, which also execs.
	goruntime.LockOSThread()
}

// readySent is set once a created container's init has told the runtime
// it is ready: the runtime has exited, and errors go to stderr.
var readySent bool

// IsInit reports whether this process was started as a container's init
// or exec process (cmd/capsa-runtime dispatches on it before parsing flags).
func IsInit() bool { return os.Getenv(envInit) != "" }

// Init is the entry point of a container's init or exec process. It does
// not return: it execs the container's process or exits with status 1
// after reporting the error to the runtime.
func Init() {
	fd, err := strconv.Atoi(os.Getenv(nsenter.EnvSyncFD))
	if err != nil || fd < 3 {
		fmt.Fprintln(os.Stderr, "capsa-runtime init: no sync socket: this command is run by capsa-runtime itself")
		os.Exit(1)
	}
	sock := &syncSocket{f: os.NewFile(uintptr(fd), "sync")}
	err = runInit(sock)
	// Once a created container has reported ready, nobody reads the
	// socket any more: say it on stderr, which is the container's.
	if readySent {
		fmt.Fprintf(os.Stderr, "capsa-runtime init: %v\n", err)
	} else if serr := sock.send(&syncMsg{Type: msgError, Error: &InitError{Msg: err.Error()}}); serr != nil {
		fmt.Fprintf(os.Stderr, "capsa-runtime init: %v\n", err)
	}
	os.Exit(1)
}

func runInit(sock *syncSocket) error {
	m, err := sock.expect(msgConfig)
	if err != nil {
		return fmt.Errorf("init: read config: %w", err)
	}
	ic := m.Init
	if ic == nil || ic.Config == nil {
		return errors.New("init: empty config message")
	}
	os.Clearenv()
	if ic.Mode == modeExec {
		if err := clearPdeathsig(); err != nil {
			return err
		}
		return execProcessInit(sock, ic)
	}
	return containerInit(sock, ic)
}

// clearPdeathsig makes this process outlive the runtime that started it.
// Until then a runtime that dies mid-create takes the half-made
// container with it.
func clearPdeathsig() error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear parent death signal: %w", err)
	}
	return nil
}

// containerInit sets up a new container around this process and execs its
// process after start.
func containerInit(sock *syncSocket, ic *initConfig) error {
	cfg := ic.Config
	proc := &cfg.Process
	// Created only now that the runtime has placed us in the container's
	// cgroup, so that the namespace's root is that cgroup.
	if cfg.NewNamespace(config.NSCgroup) {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("create cgroup namespace: %w", err)
		}
	}
	// A time namespace is entered by the children of the caller and, since
	// Linux 5.8, by the caller itself on execve; offsets can be written
	// until then.
	if cfg.NewNamespace(config.NSTime) {
		if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
			return fmt.Errorf("create time namespace: %w", err)
		}
		if err := writeTimeOffsets(cfg.TimeOffsets); err != nil {
			return err
		}
	}
	if !ic.NoNewKeyring {
		// A fresh session keyring, so that the container cannot read the
		// caller's keys. Kernels without keyrings just skip this.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + ic.ID); err != nil &&
			!errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	sys := rootfs.Real()
	opts := rootfs.Options{NoPivot: ic.NoPivot}
	if err := rootfs.Prepare(sys, cfg, opts); err != nil {
		return err
	}
	if len(cfg.Hooks.Prestart) > 0 || len(cfg.Hooks.CreateRuntime) > 0 {
		if err := sock.send(&syncMsg{Type: msgHooks}); err != nil {
			return err
		}
		if _, err := sock.expect(msgAck); err != nil {
			return fmt.Errorf("wait for runtime hooks: %w", err)
		}
	}
	if len(cfg.Hooks.CreateContainer) > 0 {
		if err := runHooks(context.Background(), "createContainer", cfg.Hooks.CreateContainer, ic.hookState("creating")); err != nil {
			return err
		}
	}
	if err := rootfs.Enter(sys, cfg, opts); err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if proc.Terminal {
		if err := setupConsole(ic.ConsoleFd, proc, true); err != nil {
			return err
		}
	}
	if cfg.NewNamespace(config.NSUTS) || cfg.Hostname != "" {
		if cfg.Hostname != "" {
			if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
				return fmt.Errorf("set hostname %q: %w", cfg.Hostname, err)
			}
		}
		if cfg.Domainname != "" {
			if err := unix.Setdomainname([]byte(cfg.Domainname)); err != nil {
				return fmt.Errorf("set domainname %q: %w", cfg.Domainname, err)
			}
		}
	}
	// Before Finalize: /proc/sys is usually among the read-only paths.
	for k, v := range cfg.Sysctl {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %q: write %q: %w", k, v, err)
		}
	}
	if err := rootfs.Finalize(sys, cfg); err != nil {
		return err
	}
	if cfg.Personality >= 0 {
		if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(cfg.Personality), 0, 0); e != 0 {
			return fmt.Errorf("linux.personality: %w", e)
		}
	}
	pr, err := prepareProcess(proc, cfg, ic, sock)
	if err != nil {
		return err
	}
	// Ready: the runtime applies the cgroup limits and records the state
	// meanwhile, and acknowledges; nothing of the container's runs before.
	// The parent-death signal goes first: the runtime may exit as soon as
	// it has sent the ack (create). A runtime that dies before acking
	// closes the socket, and the wait fails.
	if err := clearPdeathsig(); err != nil {
		return err
	}
	if err := sock.send(&syncMsg{Type: msgReady}); err != nil {
		return err
	}
	if _, err := sock.expect(msgAck); err != nil {
		return fmt.Errorf("wait for the runtime: %w", err)
	}
	if ic.Mode == modeCreate {
		readySent = true
		if err := awaitStart(ic); err != nil {
			return err
		}
		// The creating runtime is gone: errors from here on go to the
		// container's stderr.
		sock.Close()
	} else {
		pr.sock = sock
	}
	if len(cfg.Hooks.StartContainer) > 0 {
		if err := runHooks(context.Background(), "startContainer", cfg.Hooks.StartContainer, ic.hookState("created")); err != nil {
			return err
		}
	}
	return pr.exec()
}

// awaitStart blocks until the container is started, by writing to
// exec.fifo: the open blocks until start opens the fifo for reading.
func awaitStart(ic *initConfig) error {
	// Reopen the O_PATH fd through procfs: the fifo's directory is not
	// visible from inside the container's root.
	// The open waits for start, as long as the engine takes: a signal
	// meanwhile (the Go runtime's own among them) must not end init.
	var fd int
	var err error
	for {
		fd, err = unix.Open("/proc/self/fd/"+strconv.Itoa(ic.FifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	for {
		_, err = unix.Write(fd, []byte{'0'})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	unix.Close(ic.FifoFd)
	// fd stays open: execve closes it, and start, reading the fifo to its
	// end, returns once the container's process runs (or init has died).
	return nil
}

// hookState is the state passed to the hooks init runs. These run in the
// container's namespaces, so pid is the container's view of init, as the
// spec asks.
func (ic *initConfig) hookState(status string) stateForHooks {
	return stateForHooks{
		Version:     ic.Config.OCIVersion,
		ID:          ic.ID,
		Status:      status,
		Pid:         os.Getpid(),
		Bundle:      ic.Config.Bundle,
		Annotations: ic.Config.Annotations,
	}
}

func writeTimeOffsets(offs []config.TimeOffset) error {
	if len(offs) == 0 {
		return nil
	}
	var b strings.Builder
	for _, o := range offs {
		fmt.Fprintf(&b, "%s %d %d\n", o.Clock, o.Secs, o.Nsecs)
	}
	if err := os.WriteFile("/proc/self/timens_offsets", []byte(b.String()), 0); err != nil {
		return fmt.Errorf("linux.timeOffsets: %w", err)
	}
	return nil
}
