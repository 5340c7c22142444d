package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultNetworksFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

var networkHeaders = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
	"IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}

// newNetworkCommand is `capsa network` and its subcommands.
func (c *CLI) newNetworkCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks", Args: noArgs, RunE: showHelp}
	cmd.AddCommand(c.newNetworkConnectCommand(), c.newNetworkCreateCommand(), c.newNetworkDisconnectCommand(),
		c.newNetworkInspectCommand(), c.newNetworkListCommand(), c.newNetworkPruneCommand(), c.newNetworkRemoveCommand())
	return cmd
}

func (c *CLI) newNetworkCreateCommand() *cobra.Command {
	var (
		driver, ipamDriver, scope           string
		subnets, gateways, ipRanges         []string
		labels, opts                        []string
		internal, attachable, ipv6, ingress bool
	)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ipam, err := networkIPAM(ipamDriver, subnets, gateways, ipRanges)
			if err != nil {
				return err
			}
			o := client.NetworkCreateOptions{
				Driver: driver, Scope: scope, IPAM: ipam, Internal: internal, Attachable: attachable,
				Ingress: ingress, Options: keyValues(opts), Labels: keyValues(labels),
			}
			if cmd.Flags().Changed("ipv6") {
				o.EnableIPv6 = &ipv6
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.NetworkCreate(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			for _, w := range res.Warning {
				fmt.Fprintln(c.Err, w)
			}
			fmt.Fprintln(c.Out, res.ID)
			return nil
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	f.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	f.BoolVar(&internal, "internal", false, "Restrict external access to the network")
	f.BoolVar(&attachable, "attachable", false, "Enable manual container attachment")
	f.BoolVar(&ingress, "ingress", false, "Create swarm routing-mesh network")
	f.StringVar(&scope, "scope", "", "Control the network's scope")
	f.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 address assignment")
	f.StringVar(&ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	f.StringSliceVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	f.StringSliceVar(&ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	f.StringSliceVar(&gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	return cmd
}

// networkIPAM is docker's consolidateIpam: each gateway and ip-range goes
// with the subnet that holds it.
func networkIPAM(driver string, subnets, gateways, ranges []string) (*network.IPAM, error) {
	if len(subnets) < len(ranges) || len(subnets) < len(gateways) {
		return nil, fmt.Errorf("every ip-range or gateway must have a corresponding subnet")
	}
	ipam := &network.IPAM{Driver: driver, Config: []network.IPAMConfig{}}
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet %s: invalid CIDR address: %s", s, s)
		}
		ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: p})
	}
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid ip-range %s: invalid CIDR address: %s", r, r)
		}
		i := slices.IndexFunc(ipam.Config, func(c network.IPAMConfig) bool { return c.Subnet.Contains(p.Addr()) })
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for range %s", r)
		}
		if ipam.Config[i].IPRange.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, ipam.Config[i].IPRange, ipam.Config[i].Subnet)
		}
		ipam.Config[i].IPRange = p
	}
	for _, g := range gateways {
		a, err := netip.ParseAddr(g)
		if err != nil {
			return nil, fmt.Errorf("invalid gateway %s: not an IP address", g)
		}
		found := false
		for i := range ipam.Config {
			c := &ipam.Config[i]
			if !c.Subnet.Contains(a) {
				continue
			}
			if c.Gateway.IsValid() {
				return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", g, c.Gateway, c.Subnet)
			}
			c.Gateway, found = a, true
			break
		}
		if !found {
			return nil, fmt.Errorf("no matching subnet for gateway %s", g)
		}
	}
	return ipam, nil
}

// networkRow is a network as ls's --format sees it.
type networkRow struct {
	n     network.Summary
	trunc bool
}

func (r networkRow) ID() string {
	if r.trunc {
		return truncateID(r.n.ID)
	}
	return r.n.ID
}
func (r networkRow) Name() string      { return r.n.Name }
func (r networkRow) Driver() string    { return r.n.Driver }
func (r networkRow) Scope() string     { return r.n.Scope }
func (r networkRow) IPv4() string      { return strconv.FormatBool(r.n.EnableIPv4) }
func (r networkRow) IPv6() string      { return strconv.FormatBool(r.n.EnableIPv6) }
func (r networkRow) Internal() string  { return strconv.FormatBool(r.n.Internal) }
func (r networkRow) CreatedAt() string { return r.n.Created.String() }
func (r networkRow) Labels() string {
	var kv []string
	for k, v := range r.n.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
func (r networkRow) Label(name string) string { return r.n.Labels[name] }

// MarshalJSON is what --format json prints: every field.
func (r networkRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"ID": r.ID(), "Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(), "IPv4": r.IPv4(),
		"IPv6": r.IPv6(), "Internal": r.Internal(), "Labels": r.Labels(), "CreatedAt": r.CreatedAt(),
	})
}

// renderNetworks writes ls's listing, sorted by name as docker's.
func renderNetworks(out interface{ Write([]byte) (int, error) }, format string, items []network.Summary, trunc bool) error {
	sort.SliceStable(items, func(i, j int) bool { return naturalLess(items[i].Name, items[j].Name) })
	fm, err := newFormatter(out, format, networkHeaders)
	if err != nil {
		return StatusError{Status: err.Error(), StatusCode: 1}
	}
	for _, n := range items {
		if err := fm.Write(networkRow{n: n, trunc: trunc}); err != nil {
			return err
		}
	}
	return fm.Flush()
}

func (c *CLI) newNetworkListCommand() *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.NetworkList(cmd.Context(), client.NetworkListOptions{Filters: f})
			if err != nil {
				return err
			}
			switch {
			case quiet:
				format = "{{.ID}}"
			case format == "" || format == "table":
				format = defaultNetworksFormat
			}
			return renderNetworks(c.Out, format, res.Items, !noTrunc)
		},
	}
	fl := commandFlags(cmd)
	fl.VarP(newListValue(&filters), "filter", "f", "Provide filter values (e.g. \"driver=bridge\")")
	fl.StringVar(&format, "format", "", "Format output using a custom template")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	return cmd
}

func inspectNetwork(ctx context.Context, cl *client.Client, name string) (inspected, error) {
	res, err := cl.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return inspected{}, err
	}
	return inspected{typed: res.Network, raw: res.Raw}, nil
}

func (c *CLI) newNetworkInspectCommand() *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspectAll(cmd.Context(), args, format, inspectNetwork)
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&format, "format", "f", "", "Format output using a custom template")
	f.BoolVarP(&verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func (c *CLI) newNetworkRemoveCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			failed := false
			for _, name := range args {
				if _, err := cl.NetworkRemove(cmd.Context(), name, client.NetworkRemoveOptions{}); err != nil {
					if force && cerrdefs.IsNotFound(err) {
						continue
					}
					fmt.Fprintln(c.Err, err)
					failed = true
					continue
				}
				fmt.Fprintln(c.Out, name)
			}
			if failed {
				return StatusError{StatusCode: 1}
			}
			return nil
		},
	}
	commandFlags(cmd).BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func (c *CLI) newNetworkConnectCommand() *cobra.Command {
	var aliases []string
	var ip string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ep, err := endpointSettings(aliases, ip)
			if err != nil {
				return err
			}
			if ep == nil {
				ep = &network.EndpointSettings{}
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = cl.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{Container: args[1], EndpointConfig: ep})
			return err
		},
	}
	f := commandFlags(cmd)
	f.StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	f.StringSliceVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	return cmd
}

func (c *CLI) newNetworkDisconnectCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = cl.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{Container: args[1], Force: force})
			return err
		},
	}
	commandFlags(cmd).BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

func (c *CLI) newNetworkPruneCommand() *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			if !force && !c.confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?") {
				return nil
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			c.printDeleted("Networks", res.Report.NetworksDeleted, false)
			return nil
		},
	}
	fl := commandFlags(cmd)
	fl.Var(newListValue(&filters), "filter", "Provide filter values (e.g. \"until=<timestamp>\")")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}
