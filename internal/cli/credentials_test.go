package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker-credential-helpers/client"
	registrytypes "github.com/moby/moby/api/types/registry"
)

// fakeHelperScript is docker-credential-NAME for the tests: it keeps each
// server's Credentials JSON in a file of its own under the store directory.
const fakeHelperScript = `#!/bin/sh
store=%STORE%
key() { printf '%s' "$1" | tr '/:' '__'; }
case "$1" in
store)
	in=$(cat)
	url=$(printf '%s' "$in" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
	printf '%s' "$in" >"$store/$(key "$url")";;
get)
	url=$(cat)
	if [ -f "$store/$(key "$url")" ]; then cat "$store/$(key "$url")"; else echo "credentials not found in native keychain"; exit 1; fi;;
erase)
	url=$(cat)
	if [ -f "$store/$(key "$url")" ]; then rm "$store/$(key "$url")"; else echo "credentials not found in native keychain"; exit 1; fi;;
list)
	echo '{}';;
*)
	echo "unknown verb $1"; exit 1;;
esac
`

// installHelpers writes docker-credential-capsatest (backed by a store
// directory it returns) and docker-credential-capsabroken (which fails
// with a two-line message) into a directory put first in PATH, and points
// DOCKER_CONFIG at an empty temporary directory.
func installHelpers(t *testing.T) (cfgDir, store string) {
	t.Helper()
	bin, store, cfgDir := t.TempDir(), t.TempDir(), t.TempDir()
	script := strings.ReplaceAll(fakeHelperScript, "%STORE%", store)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-capsatest"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	broken := "#!/bin/sh\necho 'keychain locked'\necho 'second line'\nexit 3\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-capsabroken"), []byte(broken), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DOCKER_CONFIG", cfgDir)
	return cfgDir, store
}

func writeConfig(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readConfig(t *testing.T, dir string) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("config.json: %v\n%s", err, b)
	}
	for k, v := range m { // compact, to compare as text
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			t.Fatal(err)
		}
		m[k] = c.Bytes()
	}
	return m
}

// fakeDaemon answers ping, login (with identityToken in its answer when
// set) and pull, and remembers the X-Registry-Auth of the last pull.
type fakeDaemon struct {
	identityToken string

	mu       sync.Mutex // guards pullAuth
	pullAuth string
}

func (f *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.47")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/_ping"):
		_, _ = w.Write([]byte("OK"))
	case strings.HasSuffix(r.URL.Path, "/auth"):
		_ = json.NewEncoder(w).Encode(map[string]string{"Status": "Login Succeeded", "IdentityToken": f.identityToken})
	case strings.HasSuffix(r.URL.Path, "/images/create"):
		f.mu.Lock()
		f.pullAuth = r.Header.Get("X-Registry-Auth")
		f.mu.Unlock()
		_, _ = w.Write([]byte(`{"status":"Pulled"}` + "\n"))
	default:
		http.NotFound(w, r)
	}
}

// lastPullAuth decodes the X-Registry-Auth of the last pull.
func (f *fakeDaemon) lastPullAuth(t *testing.T) registrytypes.AuthConfig {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var ac registrytypes.AuthConfig
	if f.pullAuth == "" {
		return ac
	}
	b, err := base64.URLEncoding.DecodeString(f.pullAuth)
	if err != nil {
		t.Fatalf("X-Registry-Auth %q: %v", f.pullAuth, err)
	}
	if err := json.Unmarshal(b, &ac); err != nil {
		t.Fatalf("X-Registry-Auth %s: %v", b, err)
	}
	return ac
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the capsa command line against the fake daemon.
func runCLI(t *testing.T, d *fakeDaemon, args ...string) result {
	t.Helper()
	srv := httptest.NewServer(d)
	defer srv.Close()
	var out, errb bytes.Buffer
	c := &CLI{In: http.NoBody, Out: &out, Err: &errb}
	root := c.NewRootCommand()
	root.SetArgs(append([]string{"-H", "tcp://" + srv.Listener.Addr().String()}, args...))
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = 1
		errb.WriteString(err.Error() + "\n")
	}
	if c.client != nil {
		_ = c.client.Close()
	}
	return result{code, out.String(), errb.String()}
}

const testRegistry = "registry.example:5000"

func TestLoginCredentialHelperRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
	}{
		{"credsStore", `{"credsStore": "capsatest"}`},
		{"credHelpers", `{"credsStore": "capsabroken", "credHelpers": {"` + testRegistry + `": "capsatest"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgDir, store := installHelpers(t)
			writeConfig(t, cfgDir, tc.config)
			d := &fakeDaemon{}

			r := runCLI(t, d, "login", "-u", "alice", "-p", "s3cret", testRegistry)
			if r.code != 0 || r.stdout != "Login Succeeded\n" || r.stderr != "" {
				t.Fatalf("login: %+v", r)
			}
			// The helper has the secret, config.json an empty entry.
			got, err := client.Get(client.NewShellProgramFunc("docker-credential-capsatest"), testRegistry)
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != "alice" || got.Secret != "s3cret" || got.ServerURL != testRegistry {
				t.Fatalf("helper has %+v, want alice/s3cret for %s", got, testRegistry)
			}
			cfg := readConfig(t, cfgDir)
			if got, want := string(cfg["auths"]), `{"`+testRegistry+`":{}}`; got != want {
				t.Fatalf("config.json auths = %s, want %s", got, want)
			}
			b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json"))
			if bytes.Contains(b, []byte("s3cret")) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte("alice:s3cret")))) {
				t.Fatalf("config.json holds the password:\n%s", b)
			}
			if _, ok := cfg["credsStore"]; !ok {
				t.Fatalf("config.json lost credsStore:\n%s", b)
			}

			if r := runCLI(t, d, "pull", testRegistry+"/app"); r.code != 0 {
				t.Fatalf("pull: %+v", r)
			}
			if ac := d.lastPullAuth(t); ac.Username != "alice" || ac.Password != "s3cret" || ac.ServerAddress != testRegistry {
				t.Fatalf("pull sent %+v, want alice/s3cret for %s", ac, testRegistry)
			}

			r = runCLI(t, d, "logout", testRegistry)
			if r.code != 0 || r.stdout != "Removing login credentials for "+testRegistry+"\n" {
				t.Fatalf("logout: %+v", r)
			}
			if ents, _ := os.ReadDir(store); len(ents) != 0 {
				t.Fatalf("helper store after logout: %v", ents)
			}
			if got := string(readConfig(t, cfgDir)["auths"]); got != "{}" {
				t.Fatalf("config.json auths after logout = %s, want {}", got)
			}
			d.pullAuth = ""
			if r := runCLI(t, d, "pull", testRegistry+"/app"); r.code != 0 || d.pullAuth != "" {
				t.Fatalf("pull after logout: %+v, X-Registry-Auth %q", r, d.pullAuth)
			}
			if r := runCLI(t, d, "logout", testRegistry); r.code != 0 || r.stdout != "Not logged in to "+testRegistry+"\n" {
				t.Fatalf("second logout: %+v", r)
			}
		})
	}
}

// TestLoginIdentityToken: a token the registry gives at login replaces the
// password, kept by the helper under the username "<token>" and sent as
// IdentityToken, as docker does.
func TestLoginIdentityToken(t *testing.T) {
	cfgDir, _ := installHelpers(t)
	writeConfig(t, cfgDir, `{"credsStore": "capsatest"}`)
	d := &fakeDaemon{identityToken: "tok-123"}
	if r := runCLI(t, d, "login", "-u", "alice", "-p", "s3cret", testRegistry); r.code != 0 {
		t.Fatalf("login: %+v", r)
	}
	got, err := client.Get(client.NewShellProgramFunc("docker-credential-capsatest"), testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != tokenUsername || got.Secret != "tok-123" {
		t.Fatalf("helper has %+v, want <token>/tok-123", got)
	}
	if r := runCLI(t, d, "pull", testRegistry+"/app"); r.code != 0 {
		t.Fatalf("pull: %+v", r)
	}
	if ac := d.lastPullAuth(t); ac.IdentityToken != "tok-123" || ac.Username != "" || ac.Password != "" {
		t.Fatalf("pull sent %+v, want only IdentityToken tok-123", ac)
	}
}

// TestLoginFileStore: without a helper the credentials go into "auths",
// with docker's warning on stderr, and other keys of config.json are kept.
func TestLoginFileStore(t *testing.T) {
	cfgDir, _ := installHelpers(t)
	writeConfig(t, cfgDir, `{"credHelpers": {"other.example": "capsabroken"}, "someFutureKey": {"x": 1}}`)
	d := &fakeDaemon{}
	r := runCLI(t, d, "login", "-u", "alice", "-p", "s3cret", testRegistry)
	if r.code != 0 || r.stdout != "Login Succeeded\n" {
		t.Fatalf("login: %+v", r)
	}
	if !strings.Contains(r.stderr, "WARNING! Your credentials are stored unencrypted in '"+filepath.Join(cfgDir, "config.json")+"'") {
		t.Fatalf("login stderr %q, want the unencrypted warning", r.stderr)
	}
	cfg := readConfig(t, cfgDir)
	var auths map[string]authEntry
	if err := json.Unmarshal(cfg["auths"], &auths); err != nil {
		t.Fatal(err)
	}
	if got, want := auths[testRegistry].Auth, base64.StdEncoding.EncodeToString([]byte("alice:s3cret")); got != want {
		t.Fatalf("auths[%s].auth = %q, want %q", testRegistry, got, want)
	}
	if got := string(cfg["someFutureKey"]); got != `{"x":1}` {
		t.Fatalf("someFutureKey = %s, want kept", got)
	}
	if r := runCLI(t, d, "pull", testRegistry+"/app"); r.code != 0 {
		t.Fatalf("pull: %+v", r)
	}
	if ac := d.lastPullAuth(t); ac.Username != "alice" || ac.Password != "s3cret" {
		t.Fatalf("pull sent %+v, want alice/s3cret", ac)
	}
	// An identity token in the file: no password, no warning.
	d.identityToken = "tok-9"
	r = runCLI(t, d, "login", "-u", "alice", "-p", "s3cret", testRegistry)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("login with a token: %+v", r)
	}
	if r := runCLI(t, d, "pull", testRegistry+"/app"); r.code != 0 {
		t.Fatalf("pull: %+v", r)
	}
	if ac := d.lastPullAuth(t); ac.IdentityToken != "tok-9" || ac.Password != "" {
		t.Fatalf("pull sent %+v, want IdentityToken tok-9", ac)
	}
}

// TestCredentialHelperErrors: a missing or failing helper is one line
// naming it, with docker's text after the name.
func TestCredentialHelperErrors(t *testing.T) {
	for _, tc := range []struct {
		name, helper string
		args         []string
		want         []string
	}{
		{"missing on pull", "nosuchhelper", []string{"pull", testRegistry + "/app"},
			[]string{"credential helper docker-credential-nosuchhelper: error getting credentials - err: exec: \"docker-credential-nosuchhelper\": executable file not found in $PATH, out: ``"}},
		{"missing on login", "nosuchhelper", []string{"login", "-u", "a", "-p", "b", testRegistry},
			[]string{"credential helper docker-credential-nosuchhelper: error storing credentials - err: exec: \"docker-credential-nosuchhelper\": executable file not found in $PATH"}},
		{"failing on pull", "capsabroken", []string{"pull", testRegistry + "/app"},
			[]string{"credential helper docker-credential-capsabroken: error getting credentials - err: exit status 3, out: `keychain locked second line`"}},
		{"failing on logout", "capsabroken", []string{"logout", testRegistry},
			[]string{"docker-credential-capsabroken: error erasing credentials - err: exit status 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgDir, _ := installHelpers(t)
			writeConfig(t, cfgDir, `{"credsStore": "`+tc.helper+`"}`)
			r := runCLI(t, &fakeDaemon{}, tc.args...)
			if r.code == 0 {
				t.Fatalf("%v succeeded: %+v", tc.args, r)
			}
			if strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("stderr is not one line: %q", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Fatalf("stderr %q, want it to contain %q", r.stderr, w)
				}
			}
		})
	}
}

func TestServerKeyHelperChoice(t *testing.T) {
	cfg := &dockerConfig{credsStore: "all", credHelpers: map[string]string{"a.example": "one", dockerHubServer: "hub"}}
	for _, tc := range []struct{ server, want string }{
		{"a.example", "docker-credential-one"},
		{serverKey("docker.io"), "docker-credential-hub"},
		{"b.example", "docker-credential-all"},
	} {
		if got := cfg.helperFor(tc.server); got == nil || got.program != tc.want {
			t.Errorf("helperFor(%s) = %v, want %s", tc.server, got, tc.want)
		}
	}
	if got := (&dockerConfig{}).helperFor("a.example"); got != nil {
		t.Errorf("helperFor without helpers = %v, want nil", got)
	}
}
