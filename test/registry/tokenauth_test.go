package registry_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// tokenFront puts the distribution spec's token authentication (as
// Docker Hub has it) in front of a registry: /v2/ requests need a bearer
// token from its /token service, which gives pull scopes to anyone and
// push scopes only to alice (basic auth), and which records the scopes
// asked for.
type tokenFront struct {
	srv   *httptest.Server
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	scopes []string // scope=... of each token request, with "(alice)" when authenticated
}

func newTokenFront(t *testing.T, backend string) *tokenFront {
	t.Helper()
	u, _ := url.Parse("http://" + backend)
	f := &tokenFront{proxy: httputil.NewSingleHostReverseProxy(u)}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *tokenFront) host() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *tokenFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		scope := r.URL.Query().Get("scope")
		user, pass, ok := r.BasicAuth()
		alice := ok && user == "alice" && pass == "s3cret"
		if ok && !alice {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`, http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		if alice {
			f.scopes = append(f.scopes, scope+" (alice)")
		} else {
			f.scopes = append(f.scopes, scope)
		}
		f.mu.Unlock()
		// The token names what it grants: pull for anyone, push for alice.
		token := "pull"
		if alice {
			token = "pull,push"
		}
		json.NewEncoder(w).Encode(map[string]string{"token": token, "access_token": token})
		return
	}
	granted := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	need := "pull"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		need = "push"
	}
	if r.URL.Path == "/v2/" && granted != "" || strings.Contains(granted, need) {
		f.proxy.ServeHTTP(w, r)
		return
	}
	scope := ""
	if parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/"), "/"); len(parts) > 2 {
		repo := strings.Join(parts[:len(parts)-2], "/")
		scope = fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
		if need == "push" {
			scope = fmt.Sprintf(`,scope="repository:%s:pull,push"`, repo)
		}
	}
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="capsa-test"%s`, f.srv.URL, scope))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
}

func (f *tokenFront) tokenScopes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.scopes...)
}

// TestTokenAuth: a registry with token authentication is pulled from
// anonymously (a pull token for the repository, for the manifest and the
// blobs alike), and pushed to only after capsa login, with a token for
// pull and push that the credentials bought; the daemon never uses
// credentials its client did not send.
func TestTokenAuth(t *testing.T) {
	reg := startRegistry(t)
	front := newTokenFront(t, reg.Host)
	d := daemontest.Start(t)
	d.ImportBusybox()
	t.Setenv("DOCKER_CONFIG", t.TempDir())

	ref := front.host() + "/team/busybox:v1"
	d.MustCapsa("tag", "busybox", ref)
	if r := d.Capsa("push", ref); r.Code == 0 || !strings.Contains(strings.ToLower(r.Stderr), "unauthorized") {
		t.Fatalf("anonymous push with token auth: %v", r)
	}
	if r := d.Capsa("login", "-u", "alice", "-p", "wrong", front.host()); r.Code == 0 {
		t.Fatalf("login with a wrong password: %v", r)
	}
	if r := d.Capsa("login", "-u", "alice", "-p", "s3cret", front.host()); r.Code != 0 {
		t.Fatalf("login: %v", r)
	}
	if r := d.Capsa("push", ref); r.Code != 0 {
		t.Fatalf("push after login: %v", r)
	}
	if !slices.ContainsFunc(front.tokenScopes(), func(s string) bool {
		return strings.HasPrefix(s, "repository:team/busybox:") && strings.Contains(s, "push") && strings.HasSuffix(s, "(alice)")
	}) {
		t.Fatalf("no push token was asked for with alice's credentials: %q", front.tokenScopes())
	}

	// Anonymous pull into a fresh daemon: tokens without credentials.
	// The daemon starts with alice's config.json in its environment and
	// must not use it (dockerd uses only what its client sends); the
	// client has none.
	d2 := daemontest.Start(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	before := len(front.tokenScopes())
	if r := d2.Capsa("pull", ref); r.Code != 0 {
		t.Fatalf("anonymous pull with token auth: %v", r)
	}
	for _, s := range front.tokenScopes()[before:] {
		if strings.Contains(s, "alice") || !strings.Contains(s, "repository:team/busybox:pull") {
			t.Errorf("the anonymous pull asked for token %q", s)
		}
	}
	if got := d2.MustCapsa("run", "--rm", ref, "echo", "pulled"); got != "pulled" {
		t.Errorf("run of the pulled image: %q", got)
	}
}
