package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/atomicfile"
	"github.com/capsa-dev/capsa/internal/cgroup"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// Status is a container's lifecycle state, as the OCI state reports it.
type Status string

// The states of the OCI lifecycle, plus "paused" as runc reports it.
const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// Op is an operation on a container, checked against its status.
type Op string

// The operations with lifecycle rules.
const (
	OpStart  Op = "start"
	OpKill   Op = "kill"
	OpPause  Op = "pause"
	OpResume Op = "resume"
	OpExec   Op = "exec"
	OpDelete Op = "delete"
	OpUpdate Op = "update"
	OpPs     Op = "ps"
	OpEvents Op = "events"
)

// allowed is the lifecycle state machine: which operation each status
// permits. It is the only place these rules live.
var allowed = map[Status]map[Op]bool{
	Creating: {OpDelete: true},
	Created:  {OpStart: true, OpKill: true, OpDelete: true, OpExec: true, OpUpdate: true, OpPs: true, OpEvents: true, OpPause: true},
	Running:  {OpKill: true, OpPause: true, OpExec: true, OpUpdate: true, OpPs: true, OpEvents: true},
	Paused:   {OpKill: true, OpResume: true, OpUpdate: true, OpPs: true, OpEvents: true},
	Stopped:  {OpDelete: true, OpPs: true},
}

// ErrWrongState is returned for an operation the container's status does
// not permit; it matches errdefs.ErrConflict.
type ErrWrongState struct {
	ID     string
	Op     Op
	Status Status
}

func (e *ErrWrongState) Error() string {
	return fmt.Sprintf("container %q is %s: cannot %s it", e.ID, e.Status, e.Op)
}

// Is makes ErrWrongState match errdefs.ErrConflict.
func (e *ErrWrongState) Is(target error) bool { return target == errdefs.ErrConflict }

// check is the transition function's guard: it reports whether op is
// allowed in status s.
func check(id string, s Status, op Op) error {
	if allowed[s][op] {
		return nil
	}
	return &ErrWrongState{ID: id, Op: op, Status: s}
}

// stateFile is what a container's state directory holds in state.json.
type stateFile struct {
	ID          string            `json:"id"`
	OCIVersion  string            `json:"ociVersion"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Status is the status recorded at the last transition; the live
	// status is derived from the init process and the cgroup.
	Status Status `json:"status"`
	// InitPid is the container's init in the runtime's PID namespace, and
	// InitStart its start time (field 22 of /proc/PID/stat), which tells a
	// recycled PID from the container's.
	InitPid   int       `json:"initPid"`
	InitStart uint64    `json:"initStart"`
	Created   time.Time `json:"created"`
	// Cgroup is the cgroup manager's state.
	Cgroup cgroup.State `json:"cgroup"`
	// RootfsMount is, for a container sharing the caller's mount
	// namespace, the mount at the rootfs before the container was made
	// (0: none): delete takes down what init stacked above it.
	RootfsMount int `json:"rootfsMount,omitempty"`
	// Config is the validated configuration, kept for exec, update and
	// poststop hooks: the bundle may be gone by then.
	Config *config.Config `json:"config"`
	// Owner is the uid that created the container (rootless later).
	Owner int `json:"owner"`
}

const (
	stateName = "state.json"
	fifoName  = "exec.fifo"
)

func (c *Container) saveState() error {
	b, err := json.Marshal(&c.state)
	if err != nil {
		return fmt.Errorf("container %q: encode state: %w", c.id, err)
	}
	if err := atomicfile.WriteVolatile(filepath.Join(c.dir, stateName), b, 0o600); err != nil {
		return fmt.Errorf("container %q: save state: %w", c.id, err)
	}
	return nil
}

func loadStateFile(dir string) (*stateFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateName))
	if err != nil {
		return nil, err
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Join(dir, stateName), err)
	}
	return &s, nil
}

// OCIState returns the container's state as runtime-spec defines it.
func (c *Container) OCIState() specs.State {
	st := c.Status()
	s := specs.State{
		Version:     c.state.OCIVersion,
		ID:          c.id,
		Status:      specs.ContainerState(st),
		Bundle:      c.state.Bundle,
		Annotations: c.state.Annotations,
	}
	if st != Stopped {
		s.Pid = c.state.InitPid
	}
	return s
}
