package runtimecli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/runtime"
	"github.com/capsa-dev/capsa/internal/runtime/config"
)

func execCmd(g *globals) *cobra.Command {
	var (
		processFile, cwd, user, consoleSocket, pidFile string
		env, caps, addGids                             []string
		tty, detach, noNewPrivs                        bool
		preserveFds                                    int
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] CONTAINER_ID [COMMAND [ARG...]]",
		Short: "run a new process in a running container",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("%q requires a container id", cmd.Name())
			}
			if processFile == "" && len(args) < 2 {
				return fmt.Errorf("%q requires a command, or --process", cmd.Name())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			var p *specs.Process
			if processFile != "" {
				if p, err = readProcess(processFile); err != nil {
					return err
				}
			} else {
				p = c.DefaultExecProcess()
				p.Args = args[1:]
			}
			if cmd.Flags().Changed("tty") {
				p.Terminal = tty
			}
			if cwd != "" {
				p.Cwd = cwd
			}
			p.Env = append(p.Env, env...)
			if user != "" {
				if err := parseUser(user, &p.User); err != nil {
					return err
				}
			}
			for _, g := range addGids {
				n, err := strconv.ParseUint(g, 10, 32)
				if err != nil {
					return fmt.Errorf("--additional-gids %q: not a number", g)
				}
				p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
			}
			if len(caps) > 0 {
				if p.Capabilities == nil {
					p.Capabilities = &specs.LinuxCapabilities{}
				}
				pc := p.Capabilities
				pc.Bounding = append(pc.Bounding, caps...)
				pc.Effective = append(pc.Effective, caps...)
				pc.Permitted = append(pc.Permitted, caps...)
			}
			if noNewPrivs {
				p.NoNewPrivileges = true
			}
			code, err := c.Exec(cmd.Context(), runtime.ExecOpts{
				Process: p, Detach: detach, PidFile: pidFile, ConsoleSocket: consoleSocket,
				PreserveFds: preserveFds, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
			})
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitCodeError{code}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVarP(&processFile, "process", "p", "", "path to a process.json (runtime-spec process object)")
	fl.StringVar(&cwd, "cwd", "", "working directory in the container")
	fl.StringArrayVarP(&env, "env", "e", nil, "set an environment variable (KEY=value)")
	fl.StringVarP(&user, "user", "u", "", "UID[:GID] to run as")
	fl.StringArrayVarP(&addGids, "additional-gids", "g", nil, "additional group ids")
	fl.StringArrayVarP(&caps, "cap", "c", nil, "add a capability")
	fl.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-terminal")
	fl.BoolVarP(&detach, "detach", "d", false, "return once the process runs")
	fl.StringVar(&pidFile, "pid-file", "", "write the process's pid to this file")
	fl.StringVar(&consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fl.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privs for the process")
	fl.IntVar(&preserveFds, "preserve-fds", 0, "pass N extra fds (3..3+N-1) to the process")
	fl.String("apparmor", "", "AppArmor profile (not supported on this host)")
	fl.String("process-label", "", "SELinux label (not supported on this host)")
	_ = fl.MarkHidden("apparmor")
	_ = fl.MarkHidden("process-label")
	return cmd
}

func readProcess(path string) (*specs.Process, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--process %q: %w", path, err)
	}
	defer f.Close()
	p, err := config.DecodeProcess(f)
	if err != nil {
		return nil, fmt.Errorf("--process %q: %w", path, err)
	}
	return p, nil
}

// parseUser parses "UID[:GID]".
func parseUser(s string, u *specs.User) error {
	uidS, gidS, hasGid := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(uidS, 10, 32)
	if err != nil {
		return fmt.Errorf("--user %q: want UID[:GID] as numbers", s)
	}
	u.UID = uint32(uid)
	if hasGid {
		gid, err := strconv.ParseUint(gidS, 10, 32)
		if err != nil {
			return fmt.Errorf("--user %q: want UID[:GID] as numbers", s)
		}
		u.GID = uint32(gid)
	}
	return nil
}
