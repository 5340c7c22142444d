package cli

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newPortCommand is `capsa port CONTAINER [PRIVATE_PORT[/PROTO]]`.
func (c *CLI) newPortCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  requiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			var ports network.PortMap
			if ns := res.Container.NetworkSettings; ns != nil {
				ports = ns.Ports
			}
			private := ""
			if len(args) == 2 {
				private = args[1]
			}
			lines, err := portLines(ports, args[0], private)
			if err != nil {
				return err
			}
			if len(lines) > 0 {
				fmt.Fprintln(c.Out, strings.Join(lines, "\n"))
			}
			return nil
		},
	}
}

// portLines are port's output lines, in docker's natural order:
// "80/tcp -> 0.0.0.0:8080" for every binding, or only the host
// addresses of the binding of private ("80", "80/udp").
func portLines(ports network.PortMap, ctr, private string) ([]string, error) {
	var out []string
	if private != "" {
		port, proto, _ := strings.Cut(private, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("Error: invalid port (%s): %w", port, err)
		}
		p, _ := network.PortFrom(uint16(n), network.IPProtocol(proto))
		bs := ports[p]
		if len(bs) == 0 {
			return nil, fmt.Errorf("Error: No public port '%s' published for %s", private, ctr)
		}
		for _, b := range bs {
			out = append(out, net.JoinHostPort(hostIP(b), b.HostPort))
		}
	} else {
		for p, bs := range ports {
			for _, b := range bs {
				out = append(out, fmt.Sprintf("%s -> %s", p, net.JoinHostPort(hostIP(b), b.HostPort)))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return naturalLess(out[i], out[j]) })
	return out, nil
}

func hostIP(b network.PortBinding) string {
	if !b.HostIP.IsValid() {
		return ""
	}
	return b.HostIP.String()
}

// naturalLess compares strings with their runs of digits as numbers
// ("9/tcp" before "80/tcp"), as docker's sortorder.NaturalLess.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		switch {
		case da && db:
			na, ra := digits(a)
			nb, rb := digits(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			a, b = ra, rb
		case a[0] != b[0]:
			return a[0] < b[0]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digits(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
