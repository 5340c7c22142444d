// Package network gives containers their networks. A bridge network is a
// CNI network list run by the standard plugins (bridge, host-local IPAM,
// portmap, firewall), as containerd and Kubernetes drive them; this
// package keeps the networks' records, makes each container's network
// namespace, calls the plugins through the CNI library, isolates bridge
// networks from each other, and finds and removes what a crash left.
package network

import (
	"net/netip"
	"time"
)

// Drivers of networks. The predefined "host" and "none" networks have
// the host and null drivers; every other network is a bridge.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Names of the predefined networks, as docker's.
const (
	DefaultName = "bridge"
	HostName    = "host"
	NoneName    = "none"
)

// Network is a network's record.
type Network struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Driver string `json:"driver"`
	// Subnet and Gateway of a bridge network (IPv4).
	Subnet  netip.Prefix `json:"subnet,omitzero"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	// Internal: no route out of the network, and no masquerade.
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	Created  time.Time         `json:"created"`
	// Bridge is the host's bridge interface of a bridge network.
	Bridge string `json:"bridge,omitempty"`
	// Predefined: bridge, host and none, which cannot be removed.
	Predefined bool `json:"predefined,omitempty"`
}

// CreateOptions describe a network to create. Subnet and Gateway are as
// the user wrote them ("": one is chosen from the address pool).
type CreateOptions struct {
	Name     string
	Driver   string
	Subnet   string
	Gateway  string
	Internal bool
	Labels   map[string]string
	Options  map[string]string
	// CheckDuplicate is implied: names are unique.
}
