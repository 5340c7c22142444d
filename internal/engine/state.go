package engine

import (
	"fmt"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Status is a container's status as Docker reports it.
type Status string

// The statuses of a container.
const (
	StatusCreated    Status = "created"
	StatusRunning    Status = "running"
	StatusPaused     Status = "paused"
	StatusRestarting Status = "restarting"
	StatusRemoving   Status = "removing"
	StatusExited     Status = "exited"
	StatusDead       Status = "dead"
)

// transitions lists, for each status, the statuses it may move to.
var transitions = map[Status][]Status{
	StatusCreated:    {StatusRunning, StatusRemoving, StatusDead},
	StatusRunning:    {StatusExited, StatusPaused, StatusRestarting, StatusDead},
	StatusPaused:     {StatusRunning, StatusExited, StatusDead},
	StatusRestarting: {StatusRunning, StatusExited, StatusDead},
	StatusExited:     {StatusRunning, StatusRestarting, StatusRemoving, StatusDead},
	StatusDead:       {StatusRemoving},
	StatusRemoving:   {StatusDead},
}

// TransitionError is a change of status that the state machine refuses.
// It is an errdefs conflict.
type TransitionError struct {
	ID       string
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("container %s is %s: cannot become %s", shortID(e.ID), e.From, e.To)
}

// Is makes a TransitionError an errdefs.ErrConflict.
func (e *TransitionError) Is(target error) bool { return target == errdefs.ErrConflict }

// canTransition reports whether from may move to to.
func canTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Running reports whether the container's processes may be alive.
func (s Status) Running() bool {
	return s == StatusRunning || s == StatusPaused || s == StatusRestarting
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
