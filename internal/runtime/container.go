// Package runtime is capsa-runtime's library: it creates and manages OCI
// containers from bundles, the job runc does.
//
// A Runtime owns a state root (by default /run/capsa-runtime) that holds a
// directory per container. A Container is loaded from there by each short
// CLI invocation; its lifecycle is the state machine in state.go (created,
// running, paused, stopped), and every operation checks its transition
// there first.
//
// The container's init process is this same binary re-executed; see
// create.go for the parent's side and init_linux.go for the child's, and
// sync.go for the messages they exchange.
package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/caps"
	"github.com/capsa-dev/capsa/internal/cgroup"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// DefaultRoot is the state root when --root is not given.
const DefaultRoot = "/run/capsa-runtime"

// Runtime is a state root and the options that apply to every container in it.
type Runtime struct {
	// Root is the directory holding one directory per container.
	Root string
	// SystemdCgroup asks for the systemd cgroup driver (not supported yet).
	SystemdCgroup bool
}

// Container is a container loaded from the state root.
type Container struct {
	rt    *Runtime
	id    string
	dir   string
	state stateFile
}

// ID returns the container's id.
func (c *Container) ID() string { return c.id }

// Bundle returns the container's bundle path.
func (c *Container) Bundle() string { return c.state.Bundle }

// Pid returns the init process's pid in the runtime's PID namespace.
func (c *Container) Pid() int { return c.state.InitPid }

// checkID refuses ids that are not a single safe path element: letters,
// digits and _ . + -, not starting with a punctuation mark, at most 1024
// bytes (the id names the state directory).
func checkID(id string) error {
	if id == "" {
		return errdefs.Invalid("container id is empty")
	}
	ok := len(id) <= 1024
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '.' || c == '+' || c == '-')
	}
	if !ok {
		return errdefs.Invalid(fmt.Sprintf("container id %q: use letters, digits and _ . + - (not first), at most 1024 bytes", id))
	}
	return nil
}

// Load reads the container id from the state root.
func (r *Runtime) Load(id string) (*Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(r.Root, id)
	s, err := loadStateFile(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFound(fmt.Sprintf("container %q does not exist", id))
		}
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	return &Container{rt: r, id: id, dir: dir, state: *s}, nil
}

// List returns every container in the state root, sorted by id.
func (r *Runtime) List() ([]*Container, error) {
	ents, err := os.ReadDir(r.Root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read state root %q: %w", r.Root, err)
	}
	var out []*Container
	for _, e := range ents {
		if !e.IsDir() || checkID(e.Name()) != nil {
			continue
		}
		c, err := r.Load(e.Name())
		if err != nil {
			// A directory being created or torn down: skip it.
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// Status derives the container's live status from its recorded status,
// its init process and its cgroup.
func (c *Container) Status() Status {
	if c.state.Status == Creating {
		if c.initAlive() {
			return Creating
		}
		return Stopped
	}
	if !c.initAlive() {
		return Stopped
	}
	if _, err := os.Stat(filepath.Join(c.dir, fifoName)); err == nil {
		return Created
	}
	if c.state.Status == Paused {
		if m, err := c.cgroup(); err == nil {
			if fs, err := m.FreezerState(); err == nil && fs != cgroup.Thawed {
				return Paused
			}
		}
	}
	return Running
}

// initAlive reports whether the recorded init process still exists and is
// not a zombie. The start time guards against a recycled PID.
func (c *Container) initAlive() bool {
	if c.state.InitPid <= 0 {
		return false
	}
	st, state, err := procStartTime(c.state.InitPid)
	if err != nil || st != c.state.InitStart {
		return false
	}
	return state != 'Z' && state != 'X'
}

// procStartTime returns a process's start time (clock ticks since boot)
// and its state letter, from /proc/PID/stat.
func procStartTime(pid int) (uint64, byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: parse
	// from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+2:]))
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return st, fields[0][0], nil
}

// cgroup returns the container's cgroup manager.
func (c *Container) cgroup() (cgroup.Manager, error) {
	m, err := cgroup.Load(c.state.Cgroup)
	if err != nil {
		return nil, fmt.Errorf("container %q: cgroup: %w", c.id, err)
	}
	return m, nil
}

// signalInit sends sig to the init process if it is still the container's.
func (c *Container) signalInit(sig unix.Signal) error {
	if !c.initAlive() {
		return nil
	}
	if err := unix.Kill(c.state.InitPid, sig); err != nil && err != unix.ESRCH {
		return fmt.Errorf("container %q: signal %d to pid %d: %w", c.id, sig, c.state.InitPid, err)
	}
	return nil
}

// Info is what list and state print beyond the OCI state.
type Info struct {
	Rootfs  string
	Created time.Time
	Owner   string
}

// Info returns the container's creation details.
func (c *Container) Info() Info {
	owner := strconv.Itoa(c.state.Owner)
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	return Info{Rootfs: c.state.Rootfs, Created: c.state.Created, Owner: owner}
}

// DefaultExecProcess returns the process an exec gets when only a command
// is given: the container's own environment, cwd, user and capabilities,
// as runc exec does.
func (c *Container) DefaultExecProcess() *specs.Process {
	p := c.state.Config.Process
	return &specs.Process{
		User: specs.User{UID: p.UID, GID: p.GID, AdditionalGids: p.AdditionalGids},
		Env:  append([]string(nil), p.Env...),
		Cwd:  p.Cwd,
		Capabilities: &specs.LinuxCapabilities{
			Bounding: capNames(p.Capabilities.Bounding), Effective: capNames(p.Capabilities.Effective),
			Inheritable: capNames(p.Capabilities.Inheritable), Permitted: capNames(p.Capabilities.Permitted),
			Ambient: capNames(p.Capabilities.Ambient),
		},
		NoNewPrivileges: p.NoNewPrivileges,
		ApparmorProfile: p.ApparmorProfile,
		SelinuxLabel:    p.SelinuxLabel,
	}
}

func capNames(mask uint64) []string {
	var out []string
	for i := 0; i < 64; i++ {
		if mask&(1<<i) != 0 {
			out = append(out, caps.Name(i))
		}
	}
	return out
}
