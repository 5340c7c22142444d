package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/capsa-dev/capsa/internal/atomicfile"
)

// Request operations.
const (
	OpState     = "state"
	OpStart     = "start"
	OpAttach    = "attach"
	OpResize    = "resize"
	OpKill      = "kill"
	OpWait      = "wait"
	OpShutdown  = "shutdown"
	OpExec      = "exec"
	OpExecState = "exec_state"
)

// Request is one line from a client.
type Request struct {
	Op string `json:"op"`
	// attach: forward the client's bytes to the container's stdin (the
	// shim must run with --stdin); close the container's stdin when the
	// client half-closes.
	Stdin      bool `json:"stdin,omitempty"`
	CloseStdin bool `json:"close_stdin,omitempty"`
	// resize
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
	// kill: a signal name (TERM, SIGTERM) or number; all: every process in
	// the container's cgroup.
	Signal string `json:"signal,omitempty"`
	All    bool   `json:"all,omitempty"`
	// shutdown: kill the container (SIGKILL, all) if it still runs.
	Force bool `json:"force,omitempty"`

	// ExecID names an exec process: exec starts it, exec_state reports
	// it, and resize, kill and wait act on it instead of the init.
	ExecID string `json:"exec_id,omitempty"`
	// exec: the process, a runtime-spec Process object; terminal gives it
	// a pty (rows and cols its first size); stdin keeps its stdin open
	// (otherwise /dev/null); detach discards its output and ends the
	// connection at once instead of streaming.
	Process  json.RawMessage `json:"process,omitempty"`
	Terminal bool            `json:"terminal,omitempty"`
	Detach   bool            `json:"detach,omitempty"`
}

// Response answers one Request.
type Response struct {
	OK    bool   `json:"ok,omitempty"`
	Error string `json:"error,omitempty"`
	State *State `json:"state,omitempty"`
	// Pid of the process an exec started.
	Pid int `json:"pid,omitempty"`
}

// Container statuses in State.
const (
	// StatusCreated: a shim run with --wait-start has not been asked to
	// start its container yet.
	StatusCreated = "created"
	StatusRunning = "running"
	StatusStopped = "stopped"
)

// State is what the shim knows of its container.
type State struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
	// ExitCode and ExitedAt are set once Status is stopped.
	ExitCode int       `json:"exit_code"`
	ExitedAt time.Time `json:"exited_at,omitzero"`
}

// Exit is the content of exit.json.
type Exit struct {
	ID       string    `json:"id"`
	Pid      int       `json:"pid"`
	ExitCode int       `json:"exit_code"`
	ExitedAt time.Time `json:"exited_at"`
}

// Names of the files the shim keeps in its state dir.
const (
	SocketName  = "shim.sock"
	ExitName    = "exit.json"
	consoleName = "console.sock"
	// MaxSocketName is the length of the longest socket name in a state
	// dir: a state dir's path plus "/" plus this must fit in sun_path.
	MaxSocketName = len(consoleName)
	pidName       = "init.pid"
	runtimeLog    = "runtime.log"
)

// Attach stream numbers in frame headers, as Docker's.
const (
	StreamStdout byte = 1
	StreamStderr byte = 2
)

func writeExit(dir string, e Exit) error {
	if err := atomicfile.Write(filepath.Join(dir, ExitName), appendExit(nil, e), 0o600); err != nil {
		return fmt.Errorf("record exit of container %q: %w", e.ID, err)
	}
	return nil
}

// ReadExit reads the exit.json a shim wrote in stateDir; fs.ErrNotExist
// (wrapped) if the container has not exited, or its shim died first.
func ReadExit(stateDir string) (Exit, error) {
	var e Exit
	data, err := os.ReadFile(filepath.Join(stateDir, ExitName))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return e, fmt.Errorf("no exit recorded in %s: %w", stateDir, err)
		}
		return e, err
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("exit record in %s: %w", stateDir, err)
	}
	return e, nil
}
