package runtime

import (
	"encoding/json"
	"fmt"
	"net"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// forwardSeccomp sends a seccomp listener fd, with the container's state,
// to the agent listening on linux.seccomp.listenerPath, as runtime-spec's
// "seccomp notify" describes: one message, the state as JSON, the fd as
// SCM_RIGHTS.
func (c *Container) forwardSeccomp(fd, pid int, status string) error {
	sc := c.state.Config.Seccomp
	msg := specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: sc.ListenerMetadata,
		State: specs.State{
			Version: c.state.OCIVersion, ID: c.id, Status: specs.ContainerState(status),
			Pid: c.state.InitPid, Bundle: c.state.Bundle, Annotations: c.state.Annotations,
		},
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sc.ListenerPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath %q: %w", sc.ListenerPath, err)
	}
	defer conn.Close()
	if _, _, err := conn.WriteMsgUnix(b, unix.UnixRights(fd), nil); err != nil {
		return fmt.Errorf("send seccomp listener to %q: %w", sc.ListenerPath, err)
	}
	return nil
}
