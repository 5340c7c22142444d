package shim

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/capsa-dev/capsa/internal/shim/logfile"
)

// Config is what one shim runs.
type Config struct {
	// ID of the container.
	ID string
	// Bundle is the OCI bundle directory.
	Bundle string
	// Runtime is the OCI runtime binary, RuntimeRoot its --root.
	Runtime     string
	RuntimeRoot string
	// StateDir holds the socket and exit.json; created 0700 if missing.
	StateDir string
	// Log is the json-file log; an empty Path: output is only attached.
	Log logfile.Config
	// Terminal: the container has a pty (its config.json has
	// process.terminal true). Stdin: keep the container's stdin open for
	// attach; otherwise it is /dev/null.
	Terminal bool
	Stdin    bool
	// WaitStart: create the container, answer the caller and serve, but
	// start it only when a client sends a start request, so that attach
	// streams connected before the start see its output from the first
	// byte (Docker's clients attach, then start).
	WaitStart bool
	// Logger for the shim's own messages; nil: discarded.
	Logger *slog.Logger
}

// validID says whether id is a valid container or exec id: a letter or
// digit, then letters, digits, _ . + -, at most 128 in all. (Not a regexp:
// the package stays out of the shim's binary and its memory.)
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 || !alnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !alnum(c) && c != '_' && c != '.' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (c *Config) validate() error {
	if !validID(c.ID) {
		return fmt.Errorf("shim: container id %q: want letters, digits, _ . + - (at most 128)", c.ID)
	}
	for _, p := range []struct{ name, v string }{
		{"bundle", c.Bundle}, {"runtime", c.Runtime}, {"root", c.RuntimeRoot}, {"state-dir", c.StateDir},
	} {
		if p.v == "" {
			return fmt.Errorf("shim for container %q: --%s is required", c.ID, p.name)
		}
		if p.name != "runtime" && !filepath.IsAbs(p.v) {
			return fmt.Errorf("shim for container %q: --%s %q: want an absolute path", c.ID, p.name, p.v)
		}
	}
	if c.Log.Path != "" && !filepath.IsAbs(c.Log.Path) {
		return fmt.Errorf("shim for container %q: --log-path %q: want an absolute path", c.ID, c.Log.Path)
	}
	// sun_path holds 108 bytes with the NUL.
	if n := len(filepath.Join(c.StateDir, SocketName)); n > 107 {
		return fmt.Errorf("shim for container %q: --state-dir %q: the socket path would be %d bytes, the limit is 107", c.ID, c.StateDir, n)
	}
	return nil
}
