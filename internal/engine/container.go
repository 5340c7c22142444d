package engine

import (
	"context"
	"encoding/json"
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
	// OOMKilled: the last exit was a kill by the kernel's OOM killer.
	OOMKilled bool `json:"oom_killed,omitempty"`
	// Health is the healthcheck's view (nil: no healthcheck).
	Health *Health `json:"health,omitempty"`
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
	// Behaviour the engine acts on; see CreateOptions.
	Labels      map[string]string `json:"labels,omitempty"`
	OpenStdin   bool              `json:"open_stdin,omitempty"`
	StdinOnce   bool              `json:"stdin_once,omitempty"`
	Restart     RestartPolicy     `json:"restart,omitzero"`
	AutoRemove  bool              `json:"auto_remove,omitempty"`
	Healthcheck *HealthConfig     `json:"healthcheck,omitempty"`
	StopTimeout *int              `json:"stop_timeout,omitempty"`
	Runtime     string            `json:"runtime,omitempty"`
	Log         LogConfig         `json:"log,omitzero"`
	// Volumes the container mounts; the volume store's users come from here.
	Volumes []volumeRef `json:"volumes,omitempty"`
	// Network is how the container is networked; Net what it has of its
	// networks while it runs (nil otherwise).
	Network NetworkOptions `json:"network,omitzero"`
	Net     *netState      `json:"net,omitempty"`
	// ExposedPorts are the image's EXPOSE ("80/tcp").
	ExposedPorts []string `json:"exposed_ports,omitempty"`
	// Hostname is the spec's (its /etc/hostname and hosts line).
	Hostname string `json:"hostname,omitempty"`
	// Extensions belong to the front door that made the container (the
	// Docker API keeps the request's Config and HostConfig there); the
	// engine stores them and never reads them.
	Extensions map[string]json.RawMessage `json:"extensions,omitempty"`
	// RestartCount counts restarts by the restart policy since the last
	// start by a user; ManuallyStopped: a user stopped it (unless-stopped
	// and always then leave it stopped, across restarts of the engine).
	RestartCount    int  `json:"restart_count,omitempty"`
	ManuallyStopped bool `json:"manually_stopped,omitempty"`
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

	Labels          map[string]string
	OpenStdin       bool
	StdinOnce       bool
	Restart         RestartPolicy
	AutoRemove      bool
	Healthcheck     *HealthConfig
	StopTimeout     *int
	Runtime         string
	Log             LogConfig
	Extensions      map[string]json.RawMessage
	RestartCount    int
	ManuallyStopped bool
	// ExposedPorts are the ports the image exposes ("80/tcp").
	ExposedPorts []string
	// Network is the container's network: its options, and while it runs
	// its endpoints' addresses and its published ports.
	Network NetworkInfo
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
	// exits counts the exits recorded since the engine opened (for
	// Wait's next-exit).
	exits int
	// attachWaiters attached before the container ran; see Start.
	attachWaiters []*attachWaiter
	// restartTimer is the pending restart of the restart policy, if any;
	// cancelRestart stops it (a user's stop, start or removal).
	restartTimer *time.Timer
	// restartDelay is the restart policy's current back-off.
	restartDelay time.Duration
	// healthCancel stops the running healthcheck loop.
	healthCancel context.CancelFunc
}

// restarting reports whether the restart policy has a restart pending.
func (c *Container) restarting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restartTimer != nil
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
