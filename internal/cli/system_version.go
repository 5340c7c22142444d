package cli

import (
	"fmt"
	"io"
	"runtime"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/version"
)

// versionView is what version's --format sees.
type versionView struct {
	Client clientVersion
	Server *client.ServerVersionResult `json:",omitempty"`
}

type clientVersion struct {
	Version           string
	APIVersion        string `json:"ApiVersion"`
	DefaultAPIVersion string `json:"DefaultAPIVersion,omitempty"`
	GitCommit         string
	GoVersion         string
	Os                string
	Arch              string
	Context           string
}

func (c *CLI) newVersionCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the capsa version information",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionView{Client: clientVersion{
				Version: version.Version, APIVersion: client.MaxAPIVersion, DefaultAPIVersion: client.MaxAPIVersion,
				GitCommit: version.Commit, GoVersion: runtime.Version(),
				Os: runtime.GOOS, Arch: runtime.GOARCH, Context: "default",
			}}
			cl, err := c.Client(cmd.Context())
			if err == nil {
				v.Client.APIVersion = cl.ClientVersion()
				var sv client.ServerVersionResult
				sv, err = cl.ServerVersion(cmd.Context(), client.ServerVersionOptions{})
				if err == nil {
					v.Server = &sv
				}
			}
			if format != "" {
				if terr := executeTemplate(c.Out, format, v); terr != nil {
					return terr
				}
			} else {
				printVersion(c.Out, v)
			}
			return err
		},
	}
	commandFlags(cmd).StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func printVersion(out io.Writer, v versionView) {
	fmt.Fprintln(out, "Client:")
	fmt.Fprintf(out, " Version:           %s\n", v.Client.Version)
	if v.Client.APIVersion != v.Client.DefaultAPIVersion {
		fmt.Fprintf(out, " API version:       %s (downgraded from %s)\n", v.Client.APIVersion, v.Client.DefaultAPIVersion)
	} else {
		fmt.Fprintf(out, " API version:       %s\n", v.Client.APIVersion)
	}
	fmt.Fprintf(out, " Go version:        %s\n", v.Client.GoVersion)
	fmt.Fprintf(out, " Git commit:        %s\n", v.Client.GitCommit)
	fmt.Fprintf(out, " OS/Arch:           %s/%s\n", v.Client.Os, v.Client.Arch)
	fmt.Fprintf(out, " Context:           %s\n", v.Client.Context)
	if v.Server == nil {
		return
	}
	s := v.Server
	fmt.Fprintln(out)
	if s.Platform.Name != "" {
		fmt.Fprintf(out, "Server: %s\n", s.Platform.Name)
	} else {
		fmt.Fprintln(out, "Server:")
	}
	fmt.Fprintln(out, " Engine:")
	fmt.Fprintf(out, "  Version:          %s\n", s.Version)
	fmt.Fprintf(out, "  API version:      %s (minimum version %s)\n", s.APIVersion, s.MinAPIVersion)
	fmt.Fprintf(out, "  OS/Arch:          %s/%s\n", s.Os, s.Arch)
	for _, comp := range s.Components {
		if comp.Name == "Engine" {
			continue
		}
		fmt.Fprintf(out, " %s:\n", comp.Name)
		fmt.Fprintf(out, "  Version:          %s\n", comp.Version)
	}
}
