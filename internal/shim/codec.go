package shim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/capsa-dev/capsa/internal/shim/jsonwire"
)

// The shim reads and writes its protocol's JSON by hand (package
// jsonwire), not with encoding/json: its reflection would cost every
// shim code pages and garbage. The client, in the engine, keeps
// encoding/json; the tests hold both to the same bytes.

// decodeRequest reads one request line strictly: one JSON object of
// Request's fields. A field the shim does not know (a newer client's),
// a value of the wrong type, or anything but one object is an error, not
// a request silently taken for less than was asked. As with
// encoding/json, null is a field's zero value and a repeated field's last
// value wins.
func decodeRequest(line []byte) (Request, error) {
	var r Request
	err := jsonwire.Object(line, func(name string, v []byte) error {
		var err error
		var n uint64
		switch name {
		case "op":
			r.Op, err = jsonwire.String(v)
		case "stdin":
			r.Stdin, err = jsonwire.Bool(v)
		case "close_stdin":
			r.CloseStdin, err = jsonwire.Bool(v)
		case "rows":
			n, err = jsonwire.Uint(v, 16)
			r.Rows = uint16(n)
		case "cols":
			n, err = jsonwire.Uint(v, 16)
			r.Cols = uint16(n)
		case "signal":
			r.Signal, err = jsonwire.String(v)
		case "all":
			r.All, err = jsonwire.Bool(v)
		case "force":
			r.Force, err = jsonwire.Bool(v)
		case "exec_id":
			r.ExecID, err = jsonwire.String(v)
		case "process":
			r.Process = append(json.RawMessage(nil), v...)
		case "terminal":
			r.Terminal, err = jsonwire.Bool(v)
		case "detach":
			r.Detach, err = jsonwire.Bool(v)
		default:
			return fmt.Errorf("unknown field %q", name)
		}
		if err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		return nil
	})
	return r, err
}

// appendResponse appends r as encoding/json writes it, and a newline.
func appendResponse(b []byte, r Response) []byte {
	b = append(b, '{')
	mark := len(b)
	if r.OK {
		b = append(b, `"ok":true,`...)
	}
	if r.Error != "" {
		b = appendField(b, "error")
		b = appendString(b, r.Error)
		b = append(b, ',')
	}
	if r.State != nil {
		b = appendField(b, "state")
		b = appendState(b, *r.State)
		b = append(b, ',')
	}
	if r.Pid != 0 {
		b = appendField(b, "pid")
		b = strconv.AppendInt(b, int64(r.Pid), 10)
		b = append(b, ',')
	}
	return append(closeObject(b, mark), '\n')
}

func appendState(b []byte, st State) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, st.ID)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(st.Pid), 10)
	b = append(b, `,"status":`...)
	b = appendString(b, st.Status)
	b = append(b, `,"exit_code":`...)
	b = strconv.AppendInt(b, int64(st.ExitCode), 10)
	if !st.ExitedAt.IsZero() {
		b = append(b, `,"exited_at":`...)
		b = appendTime(b, st.ExitedAt)
	}
	return append(b, '}')
}

// appendExit appends e, the content of exit.json, and a newline.
func appendExit(b []byte, e Exit) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(e.Pid), 10)
	b = append(b, `,"exit_code":`...)
	b = strconv.AppendInt(b, int64(e.ExitCode), 10)
	b = append(b, `,"exited_at":`...)
	b = appendTime(b, e.ExitedAt)
	return append(b, "}\n"...)
}

// appendReady appends the Ready line.
func appendReady(b []byte, r Ready) []byte {
	b = append(b, '{')
	mark := len(b)
	if r.Pid != 0 {
		b = appendField(b, "pid")
		b = strconv.AppendInt(b, int64(r.Pid), 10)
		b = append(b, ',')
	}
	if r.Socket != "" {
		b = appendField(b, "socket")
		b = appendString(b, r.Socket)
		b = append(b, ',')
	}
	if r.Error != "" {
		b = appendField(b, "error")
		b = appendString(b, r.Error)
		b = append(b, ',')
	}
	return append(closeObject(b, mark), '\n')
}

func appendField(b []byte, name string) []byte {
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// closeObject ends an object whose members, from mark on, each end in a
// comma.
func closeObject(b []byte, mark int) []byte {
	if len(b) > mark {
		b = b[:len(b)-1]
	}
	return append(b, '}')
}

func appendString(b []byte, s string) []byte { return jsonwire.AppendString(b, []byte(s)) }

// appendTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds; the shim's times are the clock's, within its years).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
