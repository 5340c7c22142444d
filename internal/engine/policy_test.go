package engine

import (
	"errors"
	"testing"
	"time"
)

func TestShouldRestart(t *testing.T) {
	for _, tc := range []struct {
		policy  RestartPolicy
		count   int
		manual  bool
		code    int
		restart bool
	}{
		{RestartPolicy{}, 0, false, 1, false},
		{RestartPolicy{Name: RestartNo}, 0, false, 1, false},
		{RestartPolicy{Name: RestartAlways}, 5, false, 0, true},
		{RestartPolicy{Name: RestartAlways}, 0, true, 1, false},
		{RestartPolicy{Name: RestartUnlessStopped}, 0, false, 0, true},
		{RestartPolicy{Name: RestartUnlessStopped}, 0, true, 0, false},
		{RestartPolicy{Name: RestartOnFailure}, 0, false, 0, false},
		{RestartPolicy{Name: RestartOnFailure}, 0, false, 2, true},
		{RestartPolicy{Name: RestartOnFailure, MaxRetries: 2}, 1, false, 2, true},
		{RestartPolicy{Name: RestartOnFailure, MaxRetries: 2}, 2, false, 2, false},
	} {
		c := newContainer(record{Restart: tc.policy, RestartCount: tc.count, ManuallyStopped: tc.manual})
		if got := c.shouldRestart(tc.code); got != tc.restart {
			t.Errorf("%+v count %d manual %v exit %d: restart %v, want %v", tc.policy, tc.count, tc.manual, tc.code, got, tc.restart)
		}
	}
}

func TestRestartPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p  RestartPolicy
		ok bool
	}{
		{RestartPolicy{}, true},
		{RestartPolicy{Name: "always"}, true},
		{RestartPolicy{Name: "on-failure", MaxRetries: 3}, true},
		{RestartPolicy{Name: "always", MaxRetries: 3}, false},
		{RestartPolicy{Name: "on-failure", MaxRetries: -1}, false},
		{RestartPolicy{Name: "sometimes"}, false},
	} {
		if err := tc.p.validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: got %v, want ok %v", tc.p, err, tc.ok)
		}
	}
}

func TestHealthConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		h  *HealthConfig
		ok bool
	}{
		{nil, true},
		{&HealthConfig{Test: []string{"NONE"}}, true},
		{&HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second}, true},
		{&HealthConfig{Test: []string{"CMD"}}, false},
		{&HealthConfig{Test: []string{"SHELL", "true"}}, false},
		{&HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Microsecond}, false},
		{&HealthConfig{Test: []string{"CMD", "true"}, Retries: -1}, false},
	} {
		if err := tc.h.validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: got %v, want ok %v", tc.h, err, tc.ok)
		}
	}
}

func TestStartExitCode(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		code int
	}{
		{`exec "nope": executable file not found in $PATH`, 127},
		{`exec "/x": no such file or directory`, 127},
		{`exec "/etc": permission denied`, 126},
		{`exec "/etc": is a directory`, 126},
		{`cgroup: boom`, 128},
	} {
		if got := StartExitCode(errors.New(tc.msg)); got != tc.code {
			t.Errorf("%q: %d, want %d", tc.msg, got, tc.code)
		}
	}
}

func TestMatchLabels(t *testing.T) {
	l := map[string]string{"a": "1", "b": ""}
	for _, tc := range []struct {
		want []string
		ok   bool
	}{
		{nil, true}, {[]string{"a"}, true}, {[]string{"a=1"}, true}, {[]string{"a=2"}, false},
		{[]string{"b="}, true}, {[]string{"c"}, false}, {[]string{"a", "b"}, true},
	} {
		if got := MatchLabels(l, tc.want); got != tc.ok {
			t.Errorf("%v: %v, want %v", tc.want, got, tc.ok)
		}
	}
}

func TestEvents(t *testing.T) {
	e := &Engine{containers: map[string]*Container{}, names: map[string]string{}}
	e.containers["c1"] = newContainer(record{ID: "c1", Name: "web", Image: "busybox", Labels: map[string]string{"k": "v"}})
	before := time.Now().Add(-time.Second)
	e.emit(Event{Type: "container", Action: "start", ID: "c1"})
	past, ch, cancel := e.Events(before)
	defer cancel()
	if len(past) != 1 || past[0].Attributes["name"] != "web" || past[0].Attributes["image"] != "busybox" || past[0].Attributes["k"] != "v" {
		t.Fatalf("past: %+v", past)
	}
	e.emit(Event{Type: "container", Action: "die", ID: "c1", Attributes: map[string]string{"exitCode": "3"}})
	select {
	case ev := <-ch:
		if ev.Action != "die" || ev.Attributes["exitCode"] != "3" || ev.Attributes["name"] != "web" {
			t.Errorf("event: %+v", ev)
		}
	case <-time.After(time.Second):
		t.Fatal("no event")
	}
	past, _, cancel2 := e.Events(time.Time{})
	cancel2()
	if len(past) != 0 {
		t.Errorf("no since: got %d past events", len(past))
	}
}
