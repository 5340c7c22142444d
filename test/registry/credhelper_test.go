package registry_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// credHelperScript is docker-credential-capsatest: each server's
// Credentials JSON in a file of its own under a store directory.
const credHelperScript = `#!/bin/sh
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

// TestCredHelperLoginPushPull logs in to a registry with htpasswd basic
// auth through a credential helper (config.json's credsStore): the helper
// keeps the password, config.json only an empty auths entry; push and pull
// find the credentials through the helper; logout erases them there and a
// push is refused again.
func TestCredHelperLoginPushPull(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := startRegistryWith(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: capsa-test\n    path: %s\n", htpasswd))
	d := daemontest.Start(t)
	d.ImportBusybox()

	// After the daemon started: only the CLI reads these.
	bin, store, cfgDir := t.TempDir(), t.TempDir(), t.TempDir()
	script := strings.ReplaceAll(credHelperScript, "%STORE%", store)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-capsatest"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DOCKER_CONFIG", cfgDir)
	cfgPath := filepath.Join(cfgDir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(`{"credsStore": "capsatest"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/private/busybox:latest"
	d.MustCapsa("tag", "busybox", ref)

	if r := d.Capsa("push", ref); r.Code == 0 {
		t.Fatalf("anonymous push: %v", r)
	}
	r := d.Capsa("login", "-u", "alice", "-p", "s3cret", reg.Host)
	if r.Code != 0 || r.Stdout != "Login Succeeded\n" || strings.Contains(r.Stderr, "unencrypted") {
		t.Fatalf("capsa login: %v", r)
	}
	secret, err := os.ReadFile(filepath.Join(store, strings.ReplaceAll(reg.Host, ":", "_")))
	if err != nil {
		t.Fatalf("the helper did not store the credentials: %v", err)
	}
	if !strings.Contains(string(secret), `"Secret":"s3cret"`) || !strings.Contains(string(secret), `"Username":"alice"`) {
		t.Fatalf("helper store: %s", secret)
	}
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), "s3cret") || strings.Contains(string(cfg), base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))) ||
		!strings.Contains(string(cfg), `"`+reg.Host+`": {}`) {
		t.Fatalf("config.json after login:\n%s", cfg)
	}

	if r := d.Capsa("push", ref); r.Code != 0 || !strings.Contains(r.Stdout, "latest: digest: sha256:") {
		t.Fatalf("push after login: %v", r)
	}
	d.MustCapsa("rmi", ref)
	if r := d.Capsa("pull", ref); r.Code != 0 {
		t.Fatalf("pull after login: %v", r)
	}

	if r := d.Capsa("logout", reg.Host); r.Code != 0 || r.Stdout != "Removing login credentials for "+reg.Host+"\n" {
		t.Fatalf("capsa logout: %v", r)
	}
	if ents, _ := os.ReadDir(store); len(ents) != 0 {
		t.Fatalf("helper store after logout: %v", ents)
	}
	if r := d.Capsa("push", ref); r.Code == 0 || !strings.Contains(r.Stderr, "UNAUTHORIZED") && !strings.Contains(r.Stderr, "unauthorized") {
		t.Fatalf("push after logout: %v", r)
	}

	// A helper that is not installed: one line naming it.
	if err := os.WriteFile(cfgPath, []byte(`{"credsStore": "capsamissing"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = d.Capsa("pull", ref)
	if r.Code == 0 || strings.Count(r.Stderr, "\n") != 1 ||
		!strings.Contains(r.Stderr, `docker-credential-capsamissing: error getting credentials - err: exec: "docker-credential-capsamissing": executable file not found in $PATH`) {
		t.Fatalf("pull with a missing helper: %v", r)
	}
}
