package cli

import (
	"strings"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
	registrytypes "github.com/moby/moby/api/types/registry"
)

// tokenUsername is the Username a credential helper keeps an identity
// token under, the token being the Secret (docker's convention).
const tokenUsername = "<token>"

// credentialHelper is a docker credential helper program,
// docker-credential-NAME, spoken to with the protocol of
// github.com/docker/docker-credential-helpers (a verb as argument, the
// server URL or a JSON Credentials on stdin, JSON or an error text on stdout).
type credentialHelper struct {
	program string
	run     client.ProgramFunc
}

func newCredentialHelper(name string) *credentialHelper {
	program := "docker-credential-" + name
	return &credentialHelper{program: program, run: client.NewShellProgramFunc(program)}
}

// store hands ac to the helper; an identity token is stored as docker
// does, under the username "<token>".
func (h *credentialHelper) store(ac registrytypes.AuthConfig) error {
	c := &credentials.Credentials{ServerURL: ac.ServerAddress, Username: ac.Username, Secret: ac.Password}
	if ac.IdentityToken != "" {
		c.Username, c.Secret = tokenUsername, ac.IdentityToken
	}
	if err := client.Store(h.run, c); err != nil {
		return h.wrap(err)
	}
	return nil
}

// get asks the helper for server's credentials; found is false (and the
// error nil) when the helper has none.
func (h *credentialHelper) get(server string) (ac registrytypes.AuthConfig, found bool, _ error) {
	ac.ServerAddress = server
	c, err := client.Get(h.run, server)
	if credentials.IsErrCredentialsNotFound(err) {
		return ac, false, nil
	}
	if err != nil {
		return ac, false, h.wrap(err)
	}
	if c.Username == tokenUsername {
		ac.IdentityToken = c.Secret
	} else {
		ac.Username, ac.Password = c.Username, c.Secret
	}
	return ac, true, nil
}

// erase removes server's credentials from the helper; erased is false (and
// the error nil) when it had none.
func (h *credentialHelper) erase(server string) (erased bool, _ error) {
	err := client.Erase(h.run, server)
	if err == nil {
		return true, nil
	}
	// client.Erase, unlike Get, returns the helper's "not found" as text.
	if strings.Contains(err.Error(), "credentials not found in native keychain") {
		return false, nil
	}
	return false, h.wrap(err)
}

func (h *credentialHelper) wrap(err error) error {
	return &credentialHelperError{program: h.program, err: err}
}

// credentialHelperError is an error of a credential helper, said on one
// line that names the helper, followed by docker's own text
// ("error getting credentials - err: exit status 1, out: ...").
type credentialHelperError struct {
	program string
	err     error
}

func (e *credentialHelperError) Error() string {
	msg := strings.Join(strings.Fields(e.err.Error()), " ")
	return "credential helper " + e.program + ": " + msg
}

func (e *credentialHelperError) Unwrap() error { return e.err }
