package engine

import (
	"errors"
	"testing"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

func TestTransitions(t *testing.T) {
	for _, tc := range []struct {
		from, to Status
		ok       bool
	}{
		{StatusCreated, StatusRunning, true},
		{StatusRunning, StatusExited, true},
		{StatusExited, StatusRunning, true},
		{StatusRunning, StatusRunning, false},
		{StatusCreated, StatusExited, false},
		{StatusDead, StatusRunning, false},
		{StatusRunning, StatusRemoving, false},
		{StatusExited, StatusRemoving, true},
	} {
		c := &Container{rec: record{ID: "0123456789abcdef", State: State{Status: tc.from}}}
		err := c.transition(tc.to)
		if (err == nil) != tc.ok {
			t.Errorf("%s -> %s: got err %v, want ok=%v", tc.from, tc.to, err, tc.ok)
		}
		if err != nil {
			var te *TransitionError
			if !errors.As(err, &te) || !errors.Is(err, errdefs.ErrConflict) {
				t.Errorf("%s -> %s: got %T %v, want a conflict TransitionError", tc.from, tc.to, err, err)
			}
			if c.rec.State.Status != tc.from {
				t.Errorf("%s -> %s: status changed to %s on error", tc.from, tc.to, c.rec.State.Status)
			}
		}
	}
}
