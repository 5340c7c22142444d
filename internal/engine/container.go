package engine

import (
	"sync"
	"time"
)

// State is the run state of a container, persisted with its record.
type State struct {
	Status     Status    `json:"status"`
	Pid        int       `json:"pid,omitempty"`
	ShimPid    int       `json:"shim_pid,omitempty"`
	ExitCode   int       `json:"exit_code"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// record is what the database keeps of a container.
type record struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Image      string    `json:"image"`    // as given to Create
	ImageID    string    `json:"image_id"` // the manifest's digest
	Created    time.Time `json:"created"`
	Cmd        []string  `json:"cmd,omitempty"`
	Env        []string  `json:"env,omitempty"`
	Tty        bool      `json:"tty,omitempty"`
	StopSignal string    `json:"stop_signal,omitempty"`
	State      State     `json:"state"`
}

// Info is a snapshot of one container, as List and Inspect return it.
type Info struct {
	ID         string
	Name       string
	Image      string
	ImageID    string
	Created    time.Time
	Cmd        []string
	Env        []string
	Tty        bool
	StopSignal string
	State      State
	// Paths, for diagnostics and for the API's inspect.
	Bundle  string
	Rootfs  string
	LogPath string
}

// Container is one container of an Engine.
type Container struct {
	// opMu serializes lifecycle operations (see the package doc's lock order).
	opMu sync.Mutex

	// mu guards the fields below.
	mu  sync.Mutex
	rec record
	// changed is closed and replaced on every change of status.
	changed chan struct{}
	// removed: the record is gone; nothing may write it again.
	removed bool
	// monitoring: a goroutine waits on the shim for the exit.
	monitoring bool
}

func newContainer(rec record) *Container {
	return &Container{rec: rec, changed: make(chan struct{})}
}

// transition moves the container to status to, or returns a
// *TransitionError leaving it as it was. It is the only place a status
// changes. Preconditions: c.mu held.
func (c *Container) transition(to Status) error {
	from := c.rec.State.Status
	if !canTransition(from, to) {
		return &TransitionError{ID: c.rec.ID, From: from, To: to}
	}
	c.rec.State.Status = to
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
	return nil
}
