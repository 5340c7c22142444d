package engine

import (
	"errors"
	"testing"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

func TestLookup(t *testing.T) {
	a := "abc0000000000000000000000000000000000000000000000000000000000001"
	b := "abd0000000000000000000000000000000000000000000000000000000000002"
	e := &Engine{containers: map[string]*Container{}, names: map[string]string{}}
	for id, name := range map[string]string{a: "web", b: "db"} {
		e.containers[id] = newContainer(record{ID: id, Name: name})
		e.names[name] = id
	}
	for _, tc := range []struct {
		ref, want string
		err       error
	}{
		{a, a, nil},
		{"web", a, nil},
		{"/db", b, nil},
		{"abc", a, nil},
		{"abd0", b, nil},
		{"ab", "", errdefs.ErrInvalid},
		{"ff", "", errdefs.ErrNotFound},
		{"", "", errdefs.ErrInvalid},
	} {
		c, err := e.lookup(tc.ref)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("lookup(%q): got %v, want %v", tc.ref, err, tc.err)
			}
			continue
		}
		if err != nil || c.rec.ID != tc.want {
			t.Errorf("lookup(%q): got %v, %v; want %s", tc.ref, c, err, tc.want)
		}
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":              "busybox:latest",
		"busybox:1":            "busybox:1",
		"localhost:5000/bb":    "localhost:5000/bb:latest",
		"localhost:5000/bb:v2": "localhost:5000/bb:v2",
	} {
		if got := normalizeRef(in); got != want {
			t.Errorf("normalizeRef(%q) = %q, want %q", in, got, want)
		}
	}
}
