package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Auth are credentials for a registry, as docker's AuthConfig carries them.
type Auth struct {
	Username      string
	Password      string
	IdentityToken string
	RegistryToken string
}

// authenticator is nil when a holds no credentials (so that the keychain
// is asked instead).
func (a *Auth) authenticator() authn.Authenticator {
	if a == nil || (a.Username == "" && a.Password == "" && a.IdentityToken == "" && a.RegistryToken == "") {
		return nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: a.Username, Password: a.Password,
		IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken,
	})
}

// Login checks auth against the registry at host (host[:port]): its token
// service when it has one, otherwise basic auth on /v2/.
func Login(ctx context.Context, host string, auth Auth, opts Options) error {
	var nopts []name.Option
	insecure := slices.Contains(opts.Insecure, host)
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return errdefs.Invalid(fmt.Sprintf("login %s: %v", host, err))
	}
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	tr = &httpPolicy{next: tr, insecure: insecure}
	a := auth.authenticator()
	if a == nil {
		a = authn.Anonymous
	}
	// NewWithContext pings /v2/ and, for a token service, fetches a token
	// with the credentials; basic auth is only checked by a request.
	rt, err := transport.NewWithContext(ctx, reg, a, tr, nil)
	if err != nil {
		return fmt.Errorf("login %s: %w", host, classifyLogin(err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("login %s: %w", host, err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("login %s: %w", host, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return errdefs.Permission(fmt.Sprintf("login %s: unauthorized: incorrect username or password", host))
	}
	return fmt.Errorf("login %s: registry answered %s", host, resp.Status)
}

func classifyLogin(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return errdefs.Permission("unauthorized: incorrect username or password")
	}
	return err
}

// HostOf is the registry host of a login's server address: docker's
// "https://index.docker.io/v1/" (or empty) is index.docker.io, a URL its
// host.
func HostOf(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return name.DefaultRegistry
	}
	return s
}

// authFor finds the credentials for repo: the client's (a pull's
// X-Registry-Auth) when it sent some, otherwise the keychain's, if any;
// anonymous without either.
func authFor(repo name.Repository, opts Options) (authn.Authenticator, error) {
	if a := opts.Auth.authenticator(); a != nil {
		return a, nil
	}
	if opts.Keychain == nil {
		return authn.Anonymous, nil
	}
	a, err := opts.Keychain.Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	return a, nil
}
