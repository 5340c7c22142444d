package docker

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

func TestVersionPrefix(t *testing.T) {
	s := New(nil, Config{})
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/_ping", 200, ""},
		{"/v1.41/_ping", 200, ""},
		{"/v1.24/_ping", 200, ""},
		{"/v1.56/_ping", 200, ""},
		{"/v9.99/_ping", 400, "client version 9.99 is too new. Maximum supported API version is 1.56"},
		{"/v1.12/_ping", 400, "client version 1.12 is too old"},
		{"/vx.y/_ping", 400, "invalid API version"},
		{"/nosuch", 404, ""},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.code {
			t.Errorf("%s: status %d, want %d (%s)", tc.path, rec.Code, tc.code, rec.Body)
			continue
		}
		if rec.Header().Get("Api-Version") != APIVersion {
			t.Errorf("%s: Api-Version %q", tc.path, rec.Header().Get("Api-Version"))
		}
		if tc.msg != "" {
			var e struct{ Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("%s: body %s, want a message with %q", tc.path, rec.Body, tc.msg)
			}
		}
	}
}

func TestErrorForm(t *testing.T) {
	s := New(nil, Config{})
	for _, tc := range []struct {
		err  error
		code int
		msg  string
	}{
		{errdefs.NotFound("no such container: web"), 404, "No such container: web"},
		{errdefs.NotFound(`start container "x": no such image: busybox`), 404, "No such image: busybox"},
		{errdefs.Conflict("the container name is in use"), 409, "the container name is in use"},
		{errdefs.Invalid("bad"), 400, "bad"},
		{errors.New("boom"), 500, "boom"},
	} {
		rec := httptest.NewRecorder()
		s.writeError(rec, httptest.NewRequest("GET", "/x", nil), tc.err)
		var e struct{ Message string }
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != tc.code || e.Message != tc.msg {
			t.Errorf("%v: got %d %q, want %d %q", tc.err, rec.Code, e.Message, tc.code, tc.msg)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
	}
}

func TestMalformedBody(t *testing.T) {
	s := New(nil, Config{})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.41/containers/create", strings.NewReader("{not json")))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "invalid JSON body") {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

func TestCreateOptionsErrors(t *testing.T) {
	s := New(nil, Config{})
	neg := int64(-1)
	for _, tc := range []struct {
		name string
		cfg  *container.Config
		hc   *container.HostConfig
		want string
	}{
		{"no config", nil, nil, "config cannot be empty"},
		{"no image", &container.Config{}, nil, "no image specified"},
		{"relative workdir", &container.Config{Image: "b", WorkingDir: "tmp"}, nil, "needs to be an absolute path"},
		{"tiny memory", &container.Config{Image: "b"}, &container.HostConfig{Resources: container.Resources{Memory: 1024}}, "minimum memory limit allowed is 6MB"},
		{"swap without memory", &container.Config{Image: "b"}, &container.HostConfig{Resources: container.Resources{MemorySwap: 1 << 30}}, "memory swap limit"},
		{"bad log driver", &container.Config{Image: "b"}, &container.HostConfig{LogConfig: container.LogConfig{Type: "syslog"}}, `log driver "syslog"`},
		{"bad max-size", &container.Config{Image: "b"}, &container.HostConfig{LogConfig: container.LogConfig{Config: map[string]string{"max-size": "4XB"}}}, "max-size"},
		{"unknown log opt", &container.Config{Image: "b"}, &container.HostConfig{LogConfig: container.LogConfig{Config: map[string]string{"nope": "1"}}}, "unknown log opt"},
		{"bad security opt", &container.Config{Image: "b"}, &container.HostConfig{SecurityOpt: []string{"bogus=1"}}, "invalid --security-opt"},
		{"bad seccomp", &container.Config{Image: "b"}, &container.HostConfig{SecurityOpt: []string{"seccomp=/etc/x.json"}}, "want unconfined or a JSON profile"},
		{"empty bind source", &container.Config{Image: "b"}, &container.HostConfig{Binds: []string{":/data"}}, "invalid volume specification"},
		{"bad bind mode", &container.Config{Image: "b"}, &container.HostConfig{Binds: []string{"/tmp:/data:xyz"}}, `invalid mode "xyz"`},
		{"missing mount source", &container.Config{Image: "b"}, &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/no/such/dir", Target: "/x"}}}, "bind source path does not exist"},
		{"volume mount without target", &container.Config{Image: "b"}, &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v"}}}, "field Target must not be empty"},
		{"volume driver options", &container.Config{Image: "b"}, &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v", Target: "/x", VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Options: map[string]string{"type": "nfs"}}}}}}, "driver options are not supported"},
		{"nano cpus and quota", &container.Config{Image: "b"}, &container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUQuota: 1000}}, "Nano CPUs and CPU Period/Quota"},
		{"negative memory", &container.Config{Image: "b"}, &container.HostConfig{Resources: container.Resources{Memory: neg}}, "must not be negative"},
	} {
		_, _, err := s.createOptions("c", tc.cfg, tc.hc, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
			continue
		}
		if errdefs.HTTPStatus(err) != 400 && errdefs.HTTPStatus(err) != 501 {
			t.Errorf("%s: status %d, want 400", tc.name, errdefs.HTTPStatus(err))
		}
	}
}

func TestCreateOptions(t *testing.T) {
	s := New(nil, Config{})
	st := 5
	o, _, err := s.createOptions("web", &container.Config{
		Image: "busybox", Cmd: []string{"sh"}, Env: []string{"A=1"}, Tty: true, OpenStdin: true, StdinOnce: true,
		Labels: map[string]string{"k": "v"}, StopSignal: "SIGUSR1", StopTimeout: &st,
		Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Retries: 2},
	}, &container.HostConfig{
		RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m", "max-file": "2"}},
		Runtime:       "runc",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "web" || o.Image != "busybox" || !o.Tty || !o.OpenStdin || !o.StdinOnce || o.StopSignal != "SIGUSR1" || *o.StopTimeout != 5 || o.Runtime != "runc" {
		t.Errorf("options: %+v", o)
	}
	if o.Restart.Name != "on-failure" || o.Restart.MaxRetries != 3 {
		t.Errorf("restart: %+v", o.Restart)
	}
	if o.Log.MaxSize != 1<<20 || o.Log.MaxFiles != 2 {
		t.Errorf("log: %+v", o.Log)
	}
	if o.Healthcheck == nil || o.Healthcheck.Test[1] != "true" || o.Healthcheck.Interval != time.Second || o.Healthcheck.Retries != 2 {
		t.Errorf("healthcheck: %+v", o.Healthcheck)
	}
	if _, ok := o.Extensions[extConfig]; !ok {
		t.Error("the request's config is not kept for inspect")
	}
}

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1764072000", time.Unix(1764072000, 0)},
		{"1764072000.5", time.Unix(1764072000, 500000000)},
		{"10m", now.Add(-10 * time.Minute)},
		{"2026-11-25T11:00:00Z", time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)},
	} {
		got, err := parseTimestamp(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: got %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseTimestamp("yesterday", now); err == nil {
		t.Error("yesterday: want an error")
	}
}

func TestParseFilters(t *testing.T) {
	for _, raw := range []string{`{"label":{"a=b":true},"status":{"running":true}}`, `{"label":["a=b"],"status":["running"]}`} {
		r := httptest.NewRequest("GET", "/containers/json?filters="+urlEscape(raw), nil)
		f, err := parseFilters(r)
		if err != nil || len(f["label"]) != 1 || f["label"][0] != "a=b" || f["status"][0] != "running" {
			t.Errorf("%s: got %v %v", raw, f, err)
		}
	}
	r := httptest.NewRequest("GET", "/containers/json?filters=nope", nil)
	if _, err := parseFilters(r); errdefs.HTTPStatus(err) != 400 {
		t.Errorf("bad filters: got %v", err)
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22", "[", "%5B", "]", "%5D", ":", "%3A", ",", "%2C", "=", "%3D")
	return r.Replace(s)
}

func TestDetachKeys(t *testing.T) {
	keys, err := parseDetachKeys("")
	if err != nil || !bytes.Equal(keys, []byte{16, 17}) {
		t.Fatalf("default keys: %v %v", keys, err)
	}
	if _, err := parseDetachKeys("ctrl-1"); err == nil {
		t.Error("ctrl-1: want an error")
	}
	// ctrl-p alone passes through; ctrl-p ctrl-q detaches.
	in := []byte{'a', 16, 'b', 16, 17, 'c'}
	d := &detachReader{r: bytes.NewReader(in), keys: keys}
	out, err := io.ReadAll(d)
	if !errors.Is(err, errDetached) || string(out) != "a\x10b" {
		t.Errorf("got %q %v, want %q and a detach", out, err, "a\x10b")
	}
}

func TestFrameWriter(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	w := &frameWriter{mu: &mu, w: &buf, id: streamStderr}
	if _, err := w.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if want := []byte{2, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'}; !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got %v, want %v", buf.Bytes(), want)
	}
}

func TestApplyChanges(t *testing.T) {
	cfg, err := applyChanges([]string{`CMD ["sh"]`, "ENV A=1", "WORKDIR /w", "ENTRYPOINT echo hi", "LABEL k=v", "EXPOSE 80", "STOPSIGNAL SIGINT"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cmd[0] != "sh" || cfg.Env[0] != "A=1" || cfg.WorkingDir != "/w" || cfg.Entrypoint[2] != "echo hi" || cfg.Labels["k"] != "v" || cfg.StopSignal != "SIGINT" {
		t.Errorf("config: %+v", cfg)
	}
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("exposed: %v", cfg.ExposedPorts)
	}
	if _, err := applyChanges([]string{"RUN true"}); err == nil {
		t.Error("RUN: want an error")
	}
}
