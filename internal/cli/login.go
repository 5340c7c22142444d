package cli

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	registrytypes "github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// dockerHubServer is the key docker's config.json uses for Docker Hub.
const dockerHubServer = "https://index.docker.io/v1/"

func (c *CLI) newLoginCommand() *cobra.Command {
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := dockerHubServer
			if len(args) == 1 {
				server = serverKey(args[0])
			}
			if passwordStdin {
				if password != "" {
					return errors.New("--password and --password-stdin are mutually exclusive")
				}
				line, err := bufio.NewReader(c.In).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("read password from stdin: %w", err)
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if user == "" || password == "" {
				return errors.New("login needs a username and a password (-u and -p or --password-stdin)")
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.RegistryLogin(cmd.Context(), client.RegistryLoginOptions{Username: user, Password: password, ServerAddress: server})
			if err != nil {
				return err
			}
			if err := storeCredentials(server, user, password); err != nil {
				return err
			}
			status := res.Auth.Status
			if status == "" {
				status = "Login Succeeded"
			}
			fmt.Fprintln(c.Out, status)
			return nil
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&user, "username", "u", "", "Username")
	f.StringVarP(&password, "password", "p", "", "Password")
	f.BoolVar(&passwordStdin, "password-stdin", false, "Take the password from stdin")
	return cmd
}

func (c *CLI) newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := dockerHubServer
			if len(args) == 1 {
				server = serverKey(args[0])
			}
			found, err := removeCredentials(server)
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintf(c.Out, "Not logged in to %s\n", server)
				return nil
			}
			fmt.Fprintf(c.Out, "Removing login credentials for %s\n", server)
			return nil
		},
	}
}

// serverKey is the config.json key of a registry: Docker Hub's URL for
// docker.io, otherwise the host[:port] without scheme or path.
func serverKey(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerHubServer
	}
	return s
}

// dockerConfigPath is config.json in $DOCKER_CONFIG or ~/.docker.
func dockerConfigPath() (string, error) {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("docker config: %w", err)
	}
	return filepath.Join(home, ".docker", "config.json"), nil
}

// authEntry is one entry of config.json's "auths".
type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// readDockerConfig reads config.json as raw fields (so that what capsa
// does not know is kept) and its auths.
func readDockerConfig() (string, map[string]json.RawMessage, map[string]authEntry, error) {
	p, err := dockerConfigPath()
	if err != nil {
		return "", nil, nil, err
	}
	raw := map[string]json.RawMessage{}
	auths := map[string]authEntry{}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return p, raw, auths, nil
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("docker config %s: %w", p, err)
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &raw); err != nil {
			return "", nil, nil, fmt.Errorf("docker config %s: %w", p, err)
		}
	}
	if a, ok := raw["auths"]; ok {
		if err := json.Unmarshal(a, &auths); err != nil {
			return "", nil, nil, fmt.Errorf("docker config %s: auths: %w", p, err)
		}
	}
	return p, raw, auths, nil
}

// writeDockerConfig writes config.json (mode 0600) through a temporary file
// and a rename.
func writeDockerConfig(p string, raw map[string]json.RawMessage, auths map[string]authEntry) error {
	a, err := json.Marshal(auths)
	if err != nil {
		return err
	}
	raw["auths"] = a
	b, err := json.MarshalIndent(raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".config.json.*")
	if err != nil {
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	return nil
}

func storeCredentials(server, user, password string) error {
	p, raw, auths, err := readDockerConfig()
	if err != nil {
		return err
	}
	auths[server] = authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	return writeDockerConfig(p, raw, auths)
}

func removeCredentials(server string) (bool, error) {
	p, raw, auths, err := readDockerConfig()
	if err != nil {
		return false, err
	}
	found := false
	for _, k := range []string{server, "https://" + server, "http://" + server} {
		if _, ok := auths[k]; ok {
			delete(auths, k)
			found = true
		}
	}
	if !found {
		return false, nil
	}
	return true, writeDockerConfig(p, raw, auths)
}

// registryAuthFor is the X-Registry-Auth header for ref's registry from
// config.json ("" when there are no credentials for it).
func registryAuthFor(ref reference.Named) (string, error) {
	_, _, auths, err := readDockerConfig()
	if err != nil {
		return "", err
	}
	server := serverKey(reference.Domain(ref))
	e, ok := auths[server]
	for _, k := range []string{"https://" + server, "http://" + server} {
		if !ok {
			e, ok = auths[k]
		}
	}
	if !ok {
		return "", nil
	}
	ac := registrytypes.AuthConfig{ServerAddress: server, IdentityToken: e.IdentityToken}
	if e.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return "", fmt.Errorf("docker config: auths %s: %w", server, err)
		}
		ac.Username, ac.Password, _ = strings.Cut(string(b), ":")
	}
	b, err := json.Marshal(ac)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}
