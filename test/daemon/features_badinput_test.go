package daemon_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// rawHTTP sends req as it is on the daemon's socket and reads the answer.
func rawHTTP(t *testing.T, d *daemontest.Daemon, req string) (int, string) {
	t.Helper()
	conn, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(path, ctype, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: capsa\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", path, ctype, len(body), body)
}

func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: capsa\r\nConnection: close\r\n\r\n"
}

// jsonMessage is the message of docker's error body, "" if the body is
// not one.
func jsonMessage(body string) string {
	var m struct{ Message string }
	if json.Unmarshal([]byte(body), &m) != nil {
		return ""
	}
	return m.Message
}

// TestFeatureBadInput: names in use, starting a running container,
// removing one, malformed requests and unknown API versions get docker's
// answers.
func TestFeatureBadInput(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	id := d.MustCapsa("run", "-d", "--name", "dup", "busybox", "sleep", "1000")
	r := d.Capsa("run", "--name", "dup", "busybox", "true")
	want := `Conflict. The container name "/dup" is already in use by container "` + id + `". You have to remove (or rename) that container to be able to reuse that name.`
	if r.Code != 125 || !strings.Contains(r.Stderr, want) {
		t.Errorf("run with a name in use: want 125 and %q; %v", want, r)
	}
	if r := d.Capsa("create", "--name", "dup", "busybox"); r.Code != 125 || !strings.Contains(r.Stderr, want) {
		t.Errorf("create with a name in use: %v", r)
	}
	if r := d.Capsa("rename", "dup", "dup"); r.Code != 1 || !strings.Contains(r.Stderr, "Error response from daemon: Renaming a container with the same name as its current name") {
		t.Errorf("rename to the same name: %v", r)
	}
	// Verbs that need a running container, in dockerd's words.
	sid := d.MustCapsa("create", "--name", "idle", "busybox", "true")
	for _, args := range [][]string{{"exec", "idle", "true"}, {"top", "idle"}, {"pause", "idle"}} {
		if r := d.Capsa(args...); r.Code != 1 || r.Stderr != "Error response from daemon: Container "+sid+" is not running\n" {
			t.Errorf("%s of a created container: %v", args[0], r)
		}
	}
	if r := d.Capsa("kill", "idle"); r.Code != 1 || r.Stderr != "Error response from daemon: Cannot kill container: idle: Container "+sid+" is not running\n" {
		t.Errorf("kill of a created container: %v", r)
	}
	d.MustCapsa("rm", "idle")
	// Starting a running container is no error, as docker's.
	if r := d.Capsa("start", "dup"); r.Code != 0 || r.Stdout != "dup\n" {
		t.Errorf("start of a running container: %v", r)
	}
	if s := inspectField(d, "dup", "{{.Id}} {{.State.Status}}"); s != id+" running" {
		t.Errorf("after start of a running container: %q", s)
	}
	// rm of a running container without -f: exit 1, docker's words.
	r = d.Capsa("rm", "dup")
	if r.Code != 1 || !strings.Contains(r.Stderr, "You cannot remove a running container "+id+". Stop the container before attempting removal or force remove") {
		t.Errorf("rm of a running container: %v", r)
	}
	if s := inspectField(d, "dup", "{{.State.Status}}"); s != "running" {
		t.Errorf("rm without -f changed the container: %q", s)
	}
	if r := d.Capsa("rm", "nosuch"); r.Code != 1 || r.Stderr != "Error response from daemon: No such container: nosuch\n" {
		t.Errorf("rm of a missing container: %v", r)
	}
	if r := d.Capsa("start", "nosuch"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nosuch") {
		t.Errorf("start of a missing container: %v", r)
	}
	if r := d.Capsa("run", "--name", "bad/name", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, `Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`) {
		t.Errorf("run with an invalid name: %v", r)
	}

	// Malformed JSON: 400 and {"message": ...}; nothing created.
	before := d.IDs()
	code, body := rawHTTP(t, d, post("/v1.41/containers/create", "application/json", `{bad`))
	if code != 400 || jsonMessage(body) == "" {
		t.Errorf("create with malformed JSON: %d %s", code, body)
	}
	code, body = rawHTTP(t, d, post("/v1.41/containers/create", "application/json", `{"Image":"busybox","Cmd":["true"]`))
	if code != 400 || jsonMessage(body) == "" {
		t.Errorf("create with truncated JSON: %d %s", code, body)
	}
	code, body = rawHTTP(t, d, post("/v1.41/containers/create", "application/json", `{"Image":"busybox","Tty":"yes"}`))
	if code != 400 || jsonMessage(body) == "" {
		t.Errorf("create with a mistyped field: %d %s", code, body)
	}
	code, body = rawHTTP(t, d, post("/v1.41/containers/create", "application/json", `{"Image":""}`))
	if code != 400 || jsonMessage(body) == "" {
		t.Errorf("create without an image: %d %s", code, body)
	}
	code, body = rawHTTP(t, d, post("/v1.41/containers/create", "text/plain", `{"Image":"busybox"}`))
	if code != 400 || !strings.Contains(jsonMessage(body), "application/json") {
		t.Errorf("create with Content-Type text/plain: %d %s", code, body)
	}
	code, body = rawHTTP(t, d, post("/v1.41/containers/create?name=x%2Fy", "application/json", `{"Image":"busybox"}`))
	if code != 400 || jsonMessage(body) == "" {
		t.Errorf("create with an invalid name: %d %s", code, body)
	}
	if after := d.IDs(); len(after) != len(before) {
		t.Errorf("bad creates left containers: before %v, after %v", before, after)
	}

	// API versions: too new is 400 with docker's words; a good one works.
	code, body = rawHTTP(t, d, get("/v9.99/info"))
	if code != 400 || !strings.Contains(jsonMessage(body), "client version 9.99 is too new. Maximum supported API version is") {
		t.Errorf("/v9.99/info: %d %s", code, body)
	}
	code, body = rawHTTP(t, d, get("/v1.0/info"))
	if code != 400 || !strings.Contains(jsonMessage(body), "client version 1.0 is too old. Minimum supported API version is") {
		t.Errorf("/v1.0/info: %d %s", code, body)
	}
	if code, body = rawHTTP(t, d, get("/v1.41/info")); code != 200 {
		t.Errorf("/v1.41/info: %d %s", code, body)
	}
	if code, body = rawHTTP(t, d, get("/v1.41/containers/nosuch/json")); code != 404 || jsonMessage(body) != "No such container: nosuch" {
		t.Errorf("inspect of a missing container: %d %s", code, body)
	}
	if code, body = rawHTTP(t, d, get("/v1.41/no/such/endpoint")); code != 404 || jsonMessage(body) != "page not found" {
		t.Errorf("an unknown endpoint: %d %s", code, body)
	}
	if code, body = rawHTTP(t, d, get("/v1.41/containers/json?filters=%7Bbad")); code != 400 || jsonMessage(body) == "" {
		t.Errorf("ps with malformed filters: %d %s", code, body)
	}
	if code, body = rawHTTP(t, d, get("/v1.41/containers/json?filters=%7B%22nosuchfilter%22%3A%5B%22x%22%5D%7D")); code != 400 || !strings.Contains(jsonMessage(body), "nosuchfilter") {
		t.Errorf("ps with an unknown filter: %d %s", code, body)
	}
	// The daemon still serves after all that.
	if out := d.MustCapsa("ps", "--format", "{{.Names}}"); out != "dup" {
		t.Errorf("ps after the bad requests: %q", out)
	}
}
