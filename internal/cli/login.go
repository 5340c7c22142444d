package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	registrytypes "github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// dockerHubServer is the key docker's config.json uses for Docker Hub.
const dockerHubServer = "https://index.docker.io/v1/"

// unencryptedWarning is docker's warning (on stderr) when a login's password
// is kept in config.json rather than by a credential helper.
const unencryptedWarning = `WARNING! Your credentials are stored unencrypted in '%s'.
Configure a credential helper to remove this warning. See
https://docs.docker.com/go/credential-store/

`

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
			ac := registrytypes.AuthConfig{Username: user, Password: password, ServerAddress: server}
			if res.Auth.IdentityToken != "" {
				// As docker: the registry's identity token replaces the password.
				ac.Password = ""
				ac.IdentityToken = res.Auth.IdentityToken
			}
			inFile, err := storeCredentials(ac)
			if err != nil {
				return err
			}
			if inFile != "" && ac.Password != "" {
				fmt.Fprintf(c.Err, unencryptedWarning, inFile)
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
				return fmt.Errorf("logout %s: %w", server, err)
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
