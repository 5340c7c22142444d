package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/version"
)

// infoView is what info's --format sees: the daemon's info with the
// client's beside it, as docker has it.
type infoView struct {
	system.Info
	ClientInfo   clientInfo
	ServerErrors []string `json:",omitempty"`
}

type clientInfo struct {
	Version   string
	GitCommit string
	Context   string
	Debug     bool
}

func (c *CLI) newInfoCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := infoView{ClientInfo: clientInfo{Version: version.Version, GitCommit: version.Commit, Context: "default"}}
			cl, err := c.Client(cmd.Context())
			if err == nil {
				var res client.SystemInfoResult
				res, err = cl.Info(cmd.Context(), client.InfoOptions{})
				v.Info = res.Info
			}
			if err != nil {
				if format != "" {
					return err
				}
				v.ServerErrors = append(v.ServerErrors, err.Error())
			}
			if format != "" {
				return executeTemplate(c.Out, format, v)
			}
			printInfo(c.Out, v)
			if len(v.ServerErrors) > 0 {
				return StatusError{Status: "errors pretty printing info", StatusCode: 1}
			}
			return nil
		},
	}
	commandFlags(cmd).StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func printInfo(out io.Writer, v infoView) {
	p := func(indent int, k string, val any) {
		fmt.Fprintf(out, "%s%s: %v\n", strings.Repeat(" ", indent), k, val)
	}
	fmt.Fprintln(out, "Client:")
	p(1, "Version", v.ClientInfo.Version)
	p(1, "Context", v.ClientInfo.Context)
	p(1, "Debug Mode", v.ClientInfo.Debug)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Server:")
	if len(v.ServerErrors) > 0 {
		fmt.Fprintf(out, "ERROR: %s\n", strings.Join(v.ServerErrors, "\n"))
		return
	}
	i := v.Info
	p(1, "Containers", i.Containers)
	p(2, "Running", i.ContainersRunning)
	p(2, "Paused", i.ContainersPaused)
	p(2, "Stopped", i.ContainersStopped)
	p(1, "Images", i.Images)
	p(1, "Server Version", i.ServerVersion)
	p(1, "Storage Driver", i.Driver)
	for _, kv := range i.DriverStatus {
		p(2, kv[0], kv[1])
	}
	p(1, "Logging Driver", i.LoggingDriver)
	p(1, "Cgroup Driver", i.CgroupDriver)
	p(1, "Cgroup Version", i.CgroupVersion)
	var runtimes []string
	for name := range i.Runtimes {
		runtimes = append(runtimes, name)
	}
	sort.Strings(runtimes)
	p(1, "Runtimes", strings.Join(runtimes, " "))
	p(1, "Default Runtime", i.DefaultRuntime)
	if len(i.SecurityOptions) > 0 {
		fmt.Fprintln(out, " Security Options:")
		for _, o := range i.SecurityOptions {
			fmt.Fprintf(out, "  %s\n", strings.TrimPrefix(strings.Split(o, ",")[0], "name="))
		}
	}
	p(1, "Kernel Version", i.KernelVersion)
	p(1, "Operating System", i.OperatingSystem)
	p(1, "OSType", i.OSType)
	p(1, "Architecture", i.Architecture)
	p(1, "CPUs", i.NCPU)
	p(1, "Total Memory", units.BytesSize(float64(i.MemTotal)))
	p(1, "Name", i.Name)
	p(1, "ID", i.ID)
	p(1, "Docker Root Dir", i.DockerRootDir)
	p(1, "Debug Mode", i.Debug)
	p(1, "Experimental", i.ExperimentalBuild)
	p(1, "Live Restore Enabled", i.LiveRestoreEnabled)
	for _, w := range i.Warnings {
		fmt.Fprintln(out, w)
	}
}
