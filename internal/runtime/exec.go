package runtime

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// ExecOpts are the options of exec.
type ExecOpts struct {
	Process       *specs.Process
	Detach        bool
	PidFile       string
	ConsoleSocket string
	PreserveFds   int
	Stdin         *os.File
	Stdout        *os.File
	Stderr        *os.File
}

// nsProcNames are the /proc/PID/ns entries of each namespace type.
var nsProcNames = map[config.NSType]string{
	config.NSMount: "mnt", config.NSUTS: "uts", config.NSIPC: "ipc", config.NSPID: "pid",
	config.NSNet: "net", config.NSUser: "user", config.NSCgroup: "cgroup", config.NSTime: "time",
}

// Exec runs a new process in the container's namespaces and cgroup.
// Detached, it returns once the process runs; otherwise it waits and
// returns the process's exit status.
func (c *Container) Exec(ctx context.Context, o ExecOpts) (int, error) {
	if err := check(c.id, c.Status(), OpExec); err != nil {
		return -1, err
	}
	proc, err := config.ProcessFromSpec(o.Process, "process")
	if err != nil {
		return -1, err
	}
	if proc.Terminal && o.ConsoleSocket == "" && o.Detach {
		return -1, fmt.Errorf("exec in container %q: a detached terminal process needs --console-socket", c.id)
	}
	cfg := c.state.Config

	var joins []nsJoin
	for _, ns := range cfg.Namespaces {
		name := nsProcNames[ns.Type]
		p := "/proc/" + strconv.Itoa(c.state.InitPid) + "/ns/" + name
		// Joining a namespace we are already in is refused for user
		// namespaces and pointless for the others.
		if sameFile(p, "/proc/self/ns/"+name) {
			continue
		}
		if ns.Type == config.NSTime && !timeNSActive(c.state.InitPid) {
			continue
		}
		joins = append(joins, nsJoin{ns.Type, p})
	}
	parentSock, childSock, err := newSyncPair()
	if err != nil {
		return -1, err
	}
	defer parentSock.Close()

	var extra []*os.File
	for i := 0; i < o.PreserveFds; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	ic := &initConfig{Mode: modeExec, ID: c.id, Config: cfg, Process: proc,
		ConsoleFd: -1, FifoFd: -1, SyncFd: 3 + len(extra), ExtraFds: o.PreserveFds, InitPid: c.state.InitPid}
	extra = append(extra, childSock.f)
	var consoleOurs *os.File
	if proc.Terminal {
		var conn *os.File
		if o.ConsoleSocket != "" {
			if conn, err = dialConsoleSocket(o.ConsoleSocket); err != nil {
				childSock.Close()
				return -1, err
			}
		} else {
			pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				childSock.Close()
				return -1, fmt.Errorf("console socket pair: %w", err)
			}
			consoleOurs = os.NewFile(uintptr(pair[0]), "console")
			conn = os.NewFile(uintptr(pair[1]), "console-peer")
			defer consoleOurs.Close()
		}
		defer conn.Close()
		ic.ConsoleFd = 3 + len(extra)
		extra = append(extra, conn)
	}
	m, err := c.cgroup()
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", c.id, err)
	}
	var sp *spawned
	parentSock.onSeccomp = func(fd int) error { return c.forwardSeccomp(fd, sp.Pid, string(Running)) }
	sp, err = spawn(spawnSpec{Join: joins, ExtraFiles: extra, SyncFd: ic.SyncFd,
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Cgroup: m.Placement()}, parentSock)
	childSock.Close()
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", c.id, err)
	}
	if err := m.Apply(sp.Pid); err != nil {
		sp.kill()
		return -1, fmt.Errorf("exec in container %q: %w", c.id, err)
	}
	var sigs chan os.Signal
	if !o.Detach {
		var ready <-chan struct{}
		var stop func()
		sigs, ready, stop = notifyAll()
		defer stop()
		<-ready
	}
	if err := parentSock.send(&syncMsg{Type: msgConfig, Init: ic}); err != nil {
		sp.kill()
		return -1, fmt.Errorf("exec in container %q: %w", c.id, sp.exitReason(err))
	}
	if err := parentSock.awaitExec(sp, false); err != nil {
		sp.kill()
		return -1, fmt.Errorf("exec in container %q: %w", c.id, err)
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, sp.Pid); err != nil {
			return -1, err
		}
	}
	if o.Detach {
		return 0, nil
	}
	var copyDone sync.WaitGroup
	var console *os.File
	if consoleOurs != nil {
		console, err = recvConsole(consoleOurs)
		if err != nil {
			return -1, err
		}
		defer console.Close()
		restore := proxyConsole(console, &copyDone)
		defer restore()
	}
	go func() {
		for s := range sigs {
			sig := s.(unix.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				continue
			case unix.SIGWINCH:
				if console != nil {
					resizeFrom(console, os.Stdin)
				}
				continue
			}
			_ = unix.Kill(sp.Pid, sig)
		}
	}()
	ws, err := sp.wait()
	if err != nil {
		return -1, err
	}
	copyDone.Wait()
	return exitCode(ws), nil
}

// execProcessInit is the exec'd process's side: the C stage has already
// joined the container's namespaces (and the runtime its cgroup).
func execProcessInit(sock *syncSocket, ic *initConfig) error {
	proc := ic.Process
	if proc == nil {
		return fmt.Errorf("exec: no process in config message")
	}
	if proc.Terminal {
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid: %w", err)
		}
		if err := setupConsole(ic.ConsoleFd, proc, false); err != nil {
			return err
		}
	}
	pr, err := prepareProcess(proc, ic.Config, ic, sock)
	if err != nil {
		return err
	}
	pr.sock = sock
	return pr.exec()
}

func sameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// timeNSActive reports whether pid's time namespace exists (kernels
// before 5.6 have none).
func timeNSActive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/ns/time")
	return err == nil
}
