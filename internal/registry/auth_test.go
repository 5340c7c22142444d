package registry

import "testing"

func TestHostOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "index.docker.io"},
		{"https://index.docker.io/v1/", "index.docker.io"},
		{"docker.io", "index.docker.io"},
		{"127.0.0.1:5000", "127.0.0.1:5000"},
		{"http://127.0.0.1:5000/v2/", "127.0.0.1:5000"},
		{"registry.example:443", "registry.example:443"},
	} {
		if got := HostOf(tc.in); got != tc.want {
			t.Errorf("HostOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAuthenticator(t *testing.T) {
	var nilAuth *Auth
	if nilAuth.authenticator() != nil || (&Auth{}).authenticator() != nil {
		t.Fatal("empty credentials gave an authenticator; the keychain would not be asked")
	}
	a := (&Auth{Username: "u", Password: "p"}).authenticator()
	if a == nil {
		t.Fatal("no authenticator for a username and password")
	}
	cfg, err := a.Authorization()
	if err != nil || cfg.Username != "u" || cfg.Password != "p" {
		t.Fatalf("Authorization() = %+v, %v", cfg, err)
	}
}
