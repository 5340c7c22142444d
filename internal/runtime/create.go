package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/atomicfile"
	"github.com/capsa-dev/capsa/internal/cgroup"
	"github.com/capsa-dev/capsa/internal/cleanup"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/rootfs"
	"github.com/capsa-dev/capsa/internal/runtime/config"
	"github.com/capsa-dev/capsa/internal/version"
)

// CreateOpts are the options of create and run.
type CreateOpts struct {
	ID     string
	Bundle string
	// PidFile receives the init's pid once the container is created.
	PidFile string
	// ConsoleSocket is a unix socket path that receives the pty master of
	// a terminal container.
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	// PreserveFds passes fds 3..3+N-1 of the caller on to the container.
	PreserveFds int
	Stdin       *os.File
	Stdout      *os.File
	Stderr      *os.File
}

// Create creates the container described by the bundle: its namespaces,
// cgroup and root filesystem are set up and its init process waits for
// Start. The returned container is in the created state.
func (r *Runtime) Create(ctx context.Context, o CreateOpts) (*Container, error) {
	c, p, err := r.create(ctx, o, modeCreate, nil)
	if err != nil {
		return nil, err
	}
	p.release()
	return c, nil
}

// initProcess is a created container's init, while the creating runtime
// still holds it (run keeps it to start it and wait for it).
type initProcess struct {
	sp   *spawned
	sock *syncSocket
}

func (p *initProcess) release() {
	if p.sock != nil {
		p.sock.Close()
	}
}

func (r *Runtime) create(ctx context.Context, o CreateOpts, mode initMode, consoleConn *os.File) (_ *Container, _ *initProcess, retErr error) {
	if err := checkID(o.ID); err != nil {
		return nil, nil, err
	}
	if r.SystemdCgroup {
		return nil, nil, errdefs.NotImplemented("--systemd-cgroup: the systemd cgroup driver is not supported yet; use the cgroupfs driver (drop the flag)")
	}
	spec, err := config.LoadSpec(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := config.FromSpec(o.Bundle, spec)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Process.Terminal && o.ConsoleSocket == "" && consoleConn == nil {
		return nil, nil, errdefs.Invalid("process.terminal is true: --console-socket is required to create a terminal container")
	}
	if !cfg.Process.Terminal && o.ConsoleSocket != "" {
		return nil, nil, errdefs.Invalid("--console-socket given, but process.terminal is false in config.json")
	}
	cgPath, err := cgroup.ResolvePath(cfg.CgroupsPath, o.ID)
	if err != nil {
		return nil, nil, errdefs.Invalid(fmt.Sprintf("linux.cgroupsPath: %v", err))
	}
	resources := cgroupResources(cfg)
	cg, err := cgroup.New(cgroup.Config{Path: cgPath, Resources: resources})
	if err != nil {
		return nil, nil, fmt.Errorf("container %q: cgroup: %w", o.ID, err)
	}

	if err := os.MkdirAll(r.Root, 0o711); err != nil {
		return nil, nil, fmt.Errorf("create state root %q: %w", r.Root, err)
	}
	dir := filepath.Join(r.Root, o.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, nil, errdefs.AlreadyExists(fmt.Sprintf("container %q already exists", o.ID))
		}
		return nil, nil, fmt.Errorf("container %q: create state directory: %w", o.ID, err)
	}
	cu := cleanup.Make(func() { os.RemoveAll(dir) })
	defer cu.Clean()

	c := &Container{rt: r, id: o.ID, dir: dir, state: stateFile{
		ID:          o.ID,
		OCIVersion:  cfg.OCIVersion,
		Bundle:      cfg.Bundle,
		Rootfs:      cfg.Rootfs,
		Annotations: cfg.Annotations,
		Status:      Creating,
		Created:     time.Now().UTC(),
		Config:      cfg,
		Owner:       os.Getuid(),
	}}

	parentSock, childSock, err := newSyncPair()
	if err != nil {
		return nil, nil, err
	}
	defer childSock.Close()
	parentSock.onSeccomp = func(fd int) error { return c.forwardSeccomp(fd, c.state.InitPid, "creating") }
	cu.Add(func() { parentSock.Close() })

	// Child fds: 3.. the preserved ones, then the sync socket, the console
	// socket and the exec fifo.
	var extra []*os.File
	for i := 0; i < o.PreserveFds; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	ic := &initConfig{Mode: mode, ID: o.ID, Config: cfg, NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring,
		ConsoleFd: -1, FifoFd: -1, SyncFd: 3 + len(extra), ExtraFds: o.PreserveFds}
	extra = append(extra, childSock.f)
	next := 3 + len(extra)
	if cfg.Process.Terminal {
		conn := consoleConn
		if conn == nil {
			conn, err = dialConsoleSocket(o.ConsoleSocket)
			if err != nil {
				return nil, nil, err
			}
			defer conn.Close()
		}
		ic.ConsoleFd = next
		extra = append(extra, conn)
		next++
	}
	if mode == modeCreate {
		fifo := filepath.Join(dir, fifoName)
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			return nil, nil, fmt.Errorf("container %q: create exec fifo: %w", o.ID, err)
		}
		// init opens it as the container's root, which in a user
		// namespace is another host user.
		if uid, gid := hostRoot(cfg); uid != 0 || gid != 0 {
			if err := unix.Chown(fifo, int(uid), int(gid)); err != nil {
				return nil, nil, fmt.Errorf("container %q: chown exec fifo: %w", o.ID, err)
			}
		}
		// O_PATH: opening for write would block until start opens it.
		ff, err := os.OpenFile(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("container %q: open exec fifo: %w", o.ID, err)
		}
		defer ff.Close()
		ic.FifoFd = next
		extra = append(extra, ff)
	}

	// The cgroup exists before init starts, so that init can enter it by
	// itself (cgroup.Placement); a failed create removes what was made.
	cu.Add(func() { _ = cg.Destroy(context.WithoutCancel(ctx)) })
	if err := cg.Create(); err != nil {
		return nil, nil, fmt.Errorf("container %q: %w", o.ID, err)
	}
	if _, ownNS := cfg.Has(config.NSMount); !ownNS {
		// init mounts in our namespace: whatever happens next, take it
		// down with the container.
		if c.state.RootfsMount, err = rootfs.TopMount(cfg.Rootfs); err != nil {
			return nil, nil, fmt.Errorf("container %q: %w", o.ID, err)
		}
		cu.Add(func() { _ = rootfs.Unmount(cfg, c.state.RootfsMount) })
	}
	sp := spawnSpec{UIDMappings: cfg.UIDMappings, GIDMappings: cfg.GIDMappings,
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, ExtraFiles: extra, SyncFd: ic.SyncFd,
		Cgroup: cg.Placement()}
	for _, ns := range cfg.Namespaces {
		switch {
		case ns.Path != "":
			sp.Join = append(sp.Join, nsJoin{ns.Type, ns.Path})
		case ns.Type != config.NSCgroup && ns.Type != config.NSTime:
			sp.New = append(sp.New, ns.Type)
		}
	}
	proc, err := spawn(sp, parentSock)
	if err != nil {
		return nil, nil, fmt.Errorf("container %q: %w", o.ID, err)
	}
	cu.Add(proc.kill)
	slog.DebugContext(ctx, "init process started", "container", o.ID, "pid", proc.Pid)

	c.state.InitPid = proc.Pid
	ic.InitPid = proc.Pid
	if st, _, err := procStartTime(proc.Pid); err == nil {
		c.state.InitStart = st
	}
	if err := cg.Apply(proc.Pid); err != nil {
		return nil, nil, fmt.Errorf("container %q: %w", o.ID, err)
	}
	c.state.Cgroup = cg.State()
	// Device rules first: init opens and makes device nodes while it sets
	// up the rootfs, and v1 has a window between "deny all" and the allow
	// rules that follow it.
	if resources != nil && len(resources.Devices) > 0 {
		if err := cg.Set(&specs.LinuxResources{Devices: resources.Devices}); err != nil {
			return nil, nil, fmt.Errorf("container %q: %w", o.ID, err)
		}
	}
	// init sets up the rootfs while the other limits are applied and the
	// state is recorded; it waits for the acknowledgement of its "ready"
	// before anything of the container runs (awaitInit).
	if err := parentSock.send(&syncMsg{Type: msgConfig, Init: ic}); err != nil {
		return nil, nil, fmt.Errorf("container %q: %w", o.ID, proc.exitReason(err))
	}
	if resources != nil {
		rest := *resources
		rest.Devices = nil
		if err := cg.Set(&rest); err != nil {
			return nil, nil, fmt.Errorf("container %q: %w", o.ID, err)
		}
	}
	// From here on a crash leaves a state directory that delete can clean.
	if err := c.saveState(); err != nil {
		return nil, nil, err
	}
	if err := c.awaitInit(ctx, parentSock, proc, mode); err != nil {
		return nil, nil, fmt.Errorf("container %q: %w", o.ID, err)
	}
	if mode == modeCreate {
		c.state.Status = Created
		if err := c.saveState(); err != nil {
			return nil, nil, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc.Pid); err != nil {
			return nil, nil, fmt.Errorf("container %q: %w", o.ID, err)
		}
	}
	cu.Release()
	return c, &initProcess{sp: proc, sock: parentSock}, nil
}

// hostRoot returns the host uid and gid of the container's root: 0 and 0
// without a new user namespace.
func hostRoot(cfg *config.Config) (uid, gid uint32) {
	if !cfg.NewNamespace(config.NSUser) {
		return 0, 0
	}
	// Validation made sure both are mapped.
	uid, _ = config.HostID(cfg.UIDMappings, 0)
	gid, _ = config.HostID(cfg.GIDMappings, 0)
	return uid, gid
}

// cgroupResources are the container's limits as the cgroup gets them: a
// config that restricts devices also gets the runtime's default device
// rules and access to the nodes listed in linux.devices, as with runc.
func cgroupResources(cfg *config.Config) *specs.LinuxResources {
	r := cfg.Resources
	if r == nil || len(r.Devices) == 0 {
		return r
	}
	extra := cgroup.DefaultDeviceRules()
	for _, d := range cfg.Devices {
		if d.Type == 'p' {
			continue
		}
		typ := "c"
		if d.Type == 'b' {
			typ = "b"
		}
		major, minor := d.Major, d.Minor
		extra = append(extra, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: "rwm"})
	}
	return cgroup.WithDeviceRules(r, extra)
}

// awaitInit serves the init process until it is ready (create) or about to
// exec (run): it runs the hooks that belong to the runtime's namespace
// when init asks, and acknowledges "ready".
func (c *Container) awaitInit(ctx context.Context, sock *syncSocket, proc *spawned, mode initMode) error {
	for {
		m, err := sock.recv()
		if err != nil {
			return proc.exitReason(err)
		}
		switch m.Type {
		case msgHooks:
			// The conformance suite (and crun) give prestart hooks the
			// status "created"; createRuntime hooks see "creating".
			if err := runHooks(ctx, "prestart", c.state.Config.Hooks.Prestart, specState(c, string(Created), proc.Pid)); err != nil {
				return err
			}
			if err := runHooks(ctx, "createRuntime", c.state.Config.Hooks.CreateRuntime, specState(c, string(Creating), proc.Pid)); err != nil {
				return err
			}
			if err := sock.send(&syncMsg{Type: msgAck}); err != nil {
				return proc.exitReason(err)
			}
		case msgSeccomp:
			if err := sock.handleSeccomp(m); err != nil {
				return err
			}
		case msgReady:
			if err := sock.send(&syncMsg{Type: msgAck}); err != nil {
				return proc.exitReason(err)
			}
			if mode == modeCreate {
				return nil
			}
		case msgExec:
			return nil
		case msgError:
			return m.Error
		default:
			return fmt.Errorf("sync: unexpected %q from init", m.Type)
		}
	}
}

func dialConsoleSocket(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Sprintf("--console-socket %q: %v", path, err))
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("--console-socket %q: %w", path, err)
	}
	return f, nil
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteVolatile(abs, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file %q: %w", path, err)
	}
	return nil
}

// Version returns the runtime's version string.
func Version() string { return version.Version }
