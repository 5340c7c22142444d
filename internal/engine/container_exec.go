package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/oci"
	"github.com/capsa-dev/capsa/internal/shim"
)

// ExecConfig is a process to run in a running container, Docker's exec.
type ExecConfig struct {
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	Tty        bool
	// Stdin: the client sends stdin; AttachStdout/AttachStderr are kept
	// for inspect (the stream carries both).
	AttachStdin  bool
	AttachStdout bool
	AttachStderr bool
	Privileged   bool
}

// ExecInfo is an exec's state.
type ExecInfo struct {
	ID          string
	ContainerID string
	Config      ExecConfig
	Running     bool
	// ExitCode is set once the process has exited.
	ExitCode *int
	Pid      int
	// CanRemove: the exec has ended (or never started).
	CanRemove bool
}

// execRecord is an exec the engine knows: created, then started once.
// Like dockerd's, exec records live in memory only.
type execRecord struct {
	id, containerID string
	cfg             ExecConfig
	// mu guards the fields below.
	mu       sync.Mutex
	started  bool
	pid      int
	exitCode *int
	created  time.Time
}

// execsKept bounds the exec records; the oldest ended ones go first.
const execsKept = 1024

// ExecCreate records an exec of cfg in the running container ref and
// returns its ID.
func (e *Engine) ExecCreate(ctx context.Context, ref string, cfg ExecConfig) (string, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	id, st := c.rec.ID, c.rec.State.Status
	c.mu.Unlock()
	if st == StatusPaused {
		return "", errdefs.Conflict(fmt.Sprintf("Container %s is paused, unpause the container before exec", id))
	}
	if st != StatusRunning {
		return "", errdefs.Conflict(fmt.Sprintf("Container %s is not running", id))
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.Invalid("exec: no command specified")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	x := &execRecord{id: hex.EncodeToString(b[:]), containerID: id, cfg: cfg, created: time.Now()}
	e.execMu.Lock()
	defer e.execMu.Unlock()
	if e.execs == nil {
		e.execs = map[string]*execRecord{}
	}
	if len(e.execs) >= execsKept {
		e.dropOldExecs()
	}
	e.execs[x.id] = x
	e.emit(Event{Type: "container", Action: "exec_create: " + joinArgs(cfg.Cmd), ID: id, Attributes: map[string]string{"execID": x.id}})
	return x.id, nil
}

// dropOldExecs forgets the older half of the ended execs.
// Preconditions: e.execMu held.
func (e *Engine) dropOldExecs() {
	var oldest time.Time
	for _, x := range e.execs {
		if oldest.IsZero() || x.created.Before(oldest) {
			oldest = x.created
		}
	}
	cut := oldest.Add(time.Since(oldest) / 2)
	for id, x := range e.execs {
		x.mu.Lock()
		ended := x.exitCode != nil
		x.mu.Unlock()
		if ended && x.created.Before(cut) {
			delete(e.execs, id)
		}
	}
}

func (e *Engine) exec(id string) (*execRecord, error) {
	e.execMu.Lock()
	defer e.execMu.Unlock()
	x, ok := e.execs[id]
	if !ok {
		return nil, errdefs.NotFound(fmt.Sprintf("no such exec instance: %s", id))
	}
	return x, nil
}

// ExecStartOptions say how an exec is started.
type ExecStartOptions struct {
	// Detach: no stream; the output is dropped.
	Detach bool
	// Rows and Cols: the terminal's first size.
	Rows, Cols uint16
}

// ExecStart runs the exec in its container's shim and, unless detached,
// returns its stream (frames of output to read, stdin to write; see
// shim.Client.AttachConn). An exec starts once.
func (e *Engine) ExecStart(ctx context.Context, execID string, opts ExecStartOptions) (*net.UnixConn, error) {
	x, err := e.exec(execID)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	if x.started {
		x.mu.Unlock()
		return nil, errdefs.Conflict(fmt.Sprintf("exec %s has already been started", execID))
	}
	x.started = true
	x.mu.Unlock()
	c, err := e.lookup(x.containerID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	st := c.rec.State.Status
	c.mu.Unlock()
	if st != StatusRunning {
		return nil, errdefs.Conflict(fmt.Sprintf("Container %s is not running", x.containerID))
	}
	proc, err := e.execProcess(ctx, x)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", shortID(x.containerID), err)
	}
	pid, conn, err := e.client(x.containerID).Exec(ctx, shim.ExecRequest{
		ID: execID, Process: proc, Terminal: x.cfg.Tty, Stdin: x.cfg.AttachStdin,
		Detach: opts.Detach, Rows: opts.Rows, Cols: opts.Cols,
	})
	if err != nil {
		code := StartExitCode(err)
		x.mu.Lock()
		x.exitCode = &code
		x.mu.Unlock()
		return nil, err // the shim's error names the exec and the container
	}
	x.mu.Lock()
	x.pid = pid
	x.mu.Unlock()
	e.emit(Event{Type: "container", Action: "exec_start: " + joinArgs(x.cfg.Cmd), ID: x.containerID, Attributes: map[string]string{"execID": execID}})
	return conn, nil
}

// execProcess is the OCI process of exec x: the container's own process
// (its environment, user, cwd, capabilities, rlimits, no_new_privileges)
// with x's command and overrides.
func (e *Engine) execProcess(ctx context.Context, x *execRecord) (*specs.Process, error) {
	data, err := os.ReadFile(e.bundleDir(x.containerID) + "/config.json")
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s.Process == nil {
		return nil, errdefs.Invalid("the container's config has no process")
	}
	opts := []oci.SpecOpt{oci.WithProcessArgs(x.cfg.Cmd...), oci.WithTTY(x.cfg.Tty)}
	if len(x.cfg.Env) > 0 {
		opts = append(opts, oci.WithEnv(x.cfg.Env))
	}
	if x.cfg.WorkingDir != "" {
		opts = append(opts, oci.WithWorkdir(x.cfg.WorkingDir))
	}
	if x.cfg.User != "" {
		opts = append(opts, oci.WithUser(x.cfg.User))
	}
	for _, o := range opts {
		if err := o(ctx, &s); err != nil {
			return nil, err
		}
	}
	p := s.Process
	if x.cfg.Privileged && p.Capabilities != nil {
		all := oci.AllCapabilities()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	p.ConsoleSize = nil
	return p, nil
}

// ExecInspect returns the exec's state, asking the shim for it while the
// exec may run.
func (e *Engine) ExecInspect(ctx context.Context, execID string) (ExecInfo, error) {
	x, err := e.exec(execID)
	if err != nil {
		return ExecInfo{}, err
	}
	x.mu.Lock()
	started, code := x.started, x.exitCode
	x.mu.Unlock()
	if started && code == nil {
		st, err := e.client(x.containerID).ExecState(ctx, execID)
		if err == nil && st.Status == shim.StatusStopped {
			c := st.ExitCode
			x.mu.Lock()
			x.exitCode = &c
			x.mu.Unlock()
			e.emit(Event{Type: "container", Action: "exec_die", ID: x.containerID, Attributes: map[string]string{"execID": execID, "exitCode": fmt.Sprint(c)}})
		} else if err != nil && e.execContainerGone(x.containerID) {
			// The container, and its shim with the exec's record, ended.
			c := 137
			x.mu.Lock()
			x.exitCode = &c
			x.mu.Unlock()
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	in := ExecInfo{ID: x.id, ContainerID: x.containerID, Config: x.cfg, Pid: x.pid, CanRemove: x.exitCode != nil || !x.started}
	in.Running = x.started && x.exitCode == nil
	if x.exitCode != nil {
		c := *x.exitCode
		in.ExitCode = &c
	}
	return in, nil
}

func (e *Engine) execContainerGone(id string) bool {
	c, err := e.lookup(id)
	return err != nil || c.status() != StatusRunning
}

// ExecResize sets the size of the exec's terminal.
func (e *Engine) ExecResize(ctx context.Context, execID string, rows, cols uint16) error {
	x, err := e.exec(execID)
	if err != nil {
		return err
	}
	if !x.cfg.Tty {
		return errdefs.Conflict(fmt.Sprintf("resize exec %s: it has no terminal", execID))
	}
	return e.client(x.containerID).ResizeExec(ctx, execID, rows, cols)
}

func joinArgs(args []string) string { return strings.Join(args, " ") }
