package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func prefixOf(ip net.IP, mask net.IPMask) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

// ensureBridge makes n's bridge, up, with the gateway's address, if it is
// not there: from the network's creation on, as docker0 is, so that the
// DNS responder can listen on the gateway and the isolation rules name
// an interface that exists. The CNI bridge plugin then finds it.
func ensureBridge(n Network) error {
	link, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("bridge %s: %w", n.Bridge, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge, MTU: 1500}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", n.Bridge, err)
		}
		if link, err = netlink.LinkByName(n.Bridge); err != nil {
			return fmt.Errorf("bridge %s: %w", n.Bridge, err)
		}
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("interface %s exists and is not a bridge (%s): choose another name", n.Bridge, link.Type())
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.Gateway.AsSlice(), Mask: net.CIDRMask(n.Subnet.Bits(), 32)}}
	if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("bridge %s: address %s: %w", n.Bridge, addr.IPNet, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bridge %s up: %w", n.Bridge, err)
	}
	return nil
}

// linkExists reports whether the host has an interface named name.
func linkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// deleteBridge removes n's bridge; its ports, the veths of containers,
// are gone with their namespaces by then.
func deleteBridge(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}
