package registry_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestPush pushes the imported busybox to a real registry: capsa push,
// the result read by go-containerregistry, a second push that uploads
// nothing, a pull into a fresh capsad, docker tag and push, a bad host.
func TestPush(t *testing.T) {
	reg := startRegistry(t)
	d := daemontest.Start(t)
	d.ImportBusybox()
	ref := reg.Host + "/capsa/busybox:v1"
	id := d.MustCapsa("images", "-q", "--no-trunc", "busybox")

	t.Run("CapsaPush", func(t *testing.T) {
		d.MustCapsa("tag", "busybox", ref)
		r := d.Capsa("push", ref)
		if r.Code != 0 {
			t.Fatalf("capsa push: %v", r)
		}
		for _, want := range []string{"The push refers to repository [" + reg.Host + "/capsa/busybox]\n",
			": Preparing\n", ": Pushed\n", "v1: digest: " + id + " size: "} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("capsa push output lacks %q:\n%s", want, r.Stdout)
			}
		}
		if strings.Contains(r.Stdout, ": Pushing") {
			t.Errorf("capsa push printed byte counts when not on a terminal:\n%s", r.Stdout)
		}
	})

	t.Run("ReadableByGGCR", func(t *testing.T) {
		img := remoteImage(t, ref)
		dg, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if dg.String() != id {
			t.Fatalf("pushed manifest %s, capsa's image %s", dg, id)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		files := strings.Join(storeFiles(t, d), "\n")
		for _, l := range layers {
			ld, err := l.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(files, ld.Hex) {
				t.Errorf("pushed layer %s is not a blob of capsa's store", ld)
			}
			rc, err := l.Compressed() // verifies the digest at EOF
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Fatalf("layer %s: %v", ld, err)
			}
			rc.Close()
		}
		if len(layers) == 0 {
			t.Fatal("pushed image has no layers")
		}
	})

	t.Run("SecondPushLayerExists", func(t *testing.T) {
		r := d.Capsa("push", ref)
		if r.Code != 0 || !strings.Contains(r.Stdout, ": Layer already exists\n") || strings.Contains(r.Stdout, ": Pushed") {
			t.Fatalf("second capsa push: %v", r)
		}
	})

	t.Run("PullIntoFreshDaemon", func(t *testing.T) {
		d2 := daemontest.Start(t)
		if r := d2.Capsa("pull", ref); r.Code != 0 {
			t.Fatalf("capsa pull: %v", r)
		}
		if got := d2.MustCapsa("images", "-q", "--no-trunc", ref); got != id {
			t.Fatalf("pulled image %q, pushed %q", got, id)
		}
		if r := d2.Capsa("run", "--rm", ref, "echo", "ok"); r.Code != 0 || r.Stdout != "ok\n" {
			t.Fatalf("capsa run: %v", r)
		}
	})

	t.Run("DockerTagPush", func(t *testing.T) {
		dref := reg.Host + "/docker/bb:t1"
		if r := d.Docker("tag", "busybox", dref); r.Code != 0 {
			t.Fatalf("docker tag: %v", r)
		}
		r := d.Docker("push", dref)
		if r.Code != 0 || !strings.Contains(r.Stdout, "t1: digest: "+id) {
			t.Fatalf("docker push: %v", r)
		}
		if dg, err := remoteImage(t, dref).Digest(); err != nil || dg.String() != id {
			t.Fatalf("pushed %v (%v), want %s", dg, err, id)
		}
	})

	t.Run("UnknownHost", func(t *testing.T) {
		for _, bad := range []string{"nosuchhost.invalid/x:v1", "127.0.0.1:1/x:v1"} {
			d.MustCapsa("tag", "busybox", bad)
			r := d.Capsa("push", bad)
			host, _, _ := strings.Cut(bad, "/")
			if r.Code == 0 || !strings.Contains(r.Stderr, "push "+bad) || !strings.Contains(r.Stderr, host) {
				t.Errorf("capsa push %s: %v", bad, r)
			}
		}
		if r := d.Capsa("push", "notanimage:latest"); r.Code == 0 || !strings.Contains(r.Stderr, "not found") && !strings.Contains(r.Stderr, "No such image") {
			t.Errorf("capsa push of a missing image: %v", r)
		}
	})
}

// TestPushBasicAuth pushes to a registry with htpasswd basic auth: refused
// anonymously, accepted after capsa login (credentials in DOCKER_CONFIG).
func TestPushBasicAuth(t *testing.T) {
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
	// After the daemon started: only the CLI reads this config.
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	ref := reg.Host + "/private/busybox:latest"
	d.MustCapsa("tag", "busybox", ref)

	if r := d.Capsa("push", ref); r.Code == 0 || !strings.Contains(r.Stderr, "UNAUTHORIZED") && !strings.Contains(r.Stderr, "unauthorized") {
		t.Fatalf("anonymous push: %v", r)
	}
	if r := d.Capsa("login", "-u", "alice", "-p", "wrong", reg.Host); r.Code == 0 || !strings.Contains(r.Stderr, "incorrect username or password") {
		t.Fatalf("capsa login with a wrong password: %v", r)
	}
	if _, err := os.Stat(filepath.Join(cfgDir, "config.json")); err == nil {
		t.Fatal("a failed login wrote config.json")
	}
	r := d.CapsaIn([]byte("s3cret\n"), "login", "-u", "alice", "--password-stdin", reg.Host)
	if r.Code != 0 || r.Stdout != "Login Succeeded\n" {
		t.Fatalf("capsa login: %v", r)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, err := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Auths[reg.Host].Auth, base64.StdEncoding.EncodeToString([]byte("alice:s3cret")); got != want {
		t.Fatalf("config.json auths[%s] = %q, want %q:\n%s", reg.Host, got, want, b)
	}
	if r := d.Capsa("push", ref); r.Code != 0 || !strings.Contains(r.Stdout, "latest: digest: sha256:") {
		t.Fatalf("push after login: %v", r)
	}
	// go-containerregistry with the same config reads it back.
	kc := authn.NewMultiKeychain(authn.DefaultKeychain)
	if _, err := remoteImageWith(ref, remote.WithAuthFromKeychain(kc)); err != nil {
		t.Fatalf("read back with the stored credentials: %v", err)
	}
	if r := d.Capsa("pull", ref); r.Code != 0 {
		t.Fatalf("pull after login: %v", r)
	}
	if r := d.Docker("login", "-u", "alice", "-p", "s3cret", reg.Host); r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("docker login through capsad: %v", r)
	}
	if r := d.Docker("login", "-u", "alice", "-p", "nope", reg.Host); r.Code == 0 {
		t.Fatalf("docker login with a wrong password: %v", r)
	}
	if r := d.Capsa("logout", reg.Host); r.Code != 0 || !strings.Contains(r.Stdout, "Removing login credentials for "+reg.Host) {
		t.Fatalf("capsa logout: %v", r)
	}
	if r := d.Capsa("push", ref); r.Code == 0 {
		t.Fatalf("push after logout: %v", r)
	}
}

// remoteImage reads ref's image from the registry anonymously.
func remoteImage(t *testing.T, ref string) v1.Image {
	t.Helper()
	img, err := remoteImageWith(ref)
	if err != nil {
		t.Fatalf("remote.Image %s: %v", ref, err)
	}
	return img
}

func remoteImageWith(ref string, opts ...remote.Option) (v1.Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, opts...)
	if err != nil {
		return nil, err
	}
	_, err = img.RawManifest()
	return img, err
}
