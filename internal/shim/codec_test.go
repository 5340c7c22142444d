package shim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestCodecMatchesEncodingJSON: the shim writes its responses, exit.json
// and Ready line byte for byte as encoding/json (the client's) would.
func TestCodecMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 1, 2, 3, 456789000, time.UTC)
	st := &State{ID: "web-1", Pid: 42, Status: StatusStopped, ExitCode: 137, ExitedAt: at}
	for _, r := range []Response{
		{}, {OK: true}, {Error: `exec "x" in container "<c>": no such file & dir` + "\n\xff"},
		{OK: true, State: &State{ID: "c", Pid: 7, Status: StatusRunning}}, {OK: true, State: st}, {OK: true, Pid: 99},
	} {
		want, _ := json.Marshal(r)
		if got := string(appendResponse(nil, r)); got != string(want)+"\n" {
			t.Errorf("appendResponse = %s, want %s", got, want)
		}
	}
	for _, e := range []Exit{{ID: "c", Pid: 3, ExitCode: 0, ExitedAt: at}, {ID: "é\"", Pid: 1, ExitCode: 143, ExitedAt: at.Add(time.Hour)}} {
		want, _ := json.Marshal(e)
		if got := string(appendExit(nil, e)); got != string(want)+"\n" {
			t.Errorf("appendExit = %s, want %s", got, want)
		}
	}
	for _, r := range []Ready{{}, {Pid: 5, Socket: "/run/s/shim.sock"}, {Error: `create container "c": boom`}} {
		want, _ := json.Marshal(r)
		if got := string(appendReady(nil, r)); got != string(want)+"\n" {
			t.Errorf("appendReady = %s, want %s", got, want)
		}
	}
}

// TestDecodeRequest: what the client's encoding/json writes reads back as
// sent; an unknown field, a wrong type or a malformed line is an error.
func TestDecodeRequest(t *testing.T) {
	for _, want := range []Request{
		{Op: OpState},
		{Op: OpAttach, Stdin: true, CloseStdin: true},
		{Op: OpResize, Rows: 65535, Cols: 80, ExecID: "e1"},
		{Op: OpKill, Signal: "SIGTERM", All: true},
		{Op: OpShutdown, Force: true},
		{Op: OpExec, ExecID: "e.2", Process: json.RawMessage(`{"args":["sh","-c","echo <hi> & \"bye\""],"cwd":"/"}`),
			Terminal: true, Detach: true, Stdin: true, Rows: 24, Cols: 80},
	} {
		line, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRequest(append(line, '\n'))
		if err != nil {
			t.Errorf("decodeRequest(%s): %v", line, err)
			continue
		}
		if want.Process != nil {
			// encoding/json compacts a RawMessage; compare as values.
			var a, b any
			_ = json.Unmarshal(want.Process, &a)
			_ = json.Unmarshal(got.Process, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("process = %s, want %s", got.Process, want.Process)
			}
			want.Process, got.Process = nil, nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decodeRequest(%s) = %+v, want %+v", line, got, want)
		}
	}
	if got, err := decodeRequest([]byte(` {"op":"kill","signal":null,"\u0061ll":true,"op":"state"} `)); err != nil ||
		!reflect.DeepEqual(got, Request{Op: OpState, All: true}) {
		t.Errorf("decodeRequest with null, an escaped name and a repeated field = %+v, %v", got, err)
	}
	for _, tt := range []struct{ in, want string }{
		{`{"op":"state","bogus":1}`, `unknown field "bogus"`},
		{`{"op":"resize","rows":65536}`, `field "rows"`},
		{`{"op":"resize","rows":-1}`, `field "rows"`},
		{`{"op":"resize","rows":1.5}`, `field "rows"`},
		{`{"op":"kill","all":"yes"}`, `field "all"`},
		{`{"op":5}`, `field "op"`},
		{`{"op":"state"`, "invalid JSON"},
		{`{"op":"state"} {"op":"state"}`, "invalid JSON"},
		{`["state"]`, "invalid JSON"},
		{`op=state`, "invalid JSON"},
		{``, "invalid JSON"},
	} {
		_, err := decodeRequest([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("decodeRequest(%s) = %v, want an error with %q", tt.in, err, tt.want)
		}
	}
}
