package network

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Default addresses: not podman's 10.88.0.0/16 nor docker's 172.17.0.0/16
// (nor the 172.18-31 and 10.89 ranges their user networks take), since
// they run beside capsa.
var (
	DefaultSubnet = netip.MustParsePrefix("10.77.0.0/16")
	DefaultPool   = AddressPool{Base: netip.MustParsePrefix("10.78.0.0/15"), Size: 24}
)

// AddressPool is where networks created without --subnet get theirs:
// the first free Size-bit subnet of Base (dockerd's default-address-pools).
type AddressPool struct {
	Base netip.Prefix `json:"base"`
	Size int          `json:"size"`
}

// hostPrefixes are the host's routes and addresses (IPv4): a network on
// one of them would hide part of the host's own network.
func hostPrefixes() []netip.Prefix {
	var out []netip.Prefix
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err == nil {
		for _, r := range routes {
			if r.Dst == nil {
				continue // the default route overlaps everything, by design
			}
			if p, ok := prefixOf(r.Dst.IP, r.Dst.Mask); ok && p.Bits() > 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// parseSubnet reads --subnet and --gateway; the gateway defaults to the
// subnet's first address.
func parseSubnet(subnet, gateway string) (netip.Prefix, netip.Addr, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, errdefs.Invalid(fmt.Sprintf("invalid subnet %s: it must be an IPv4 CIDR such as 10.90.0.0/24", subnet))
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, netip.Addr{}, errdefs.Invalid(fmt.Sprintf("invalid subnet %s: only IPv4 subnets are supported", subnet))
	}
	if p.Masked() != p {
		return netip.Prefix{}, netip.Addr{}, errdefs.Invalid(fmt.Sprintf("invalid subnet %s: host bits are set (did you mean %s?)", subnet, p.Masked()))
	}
	if p.Bits() > 30 {
		return netip.Prefix{}, netip.Addr{}, errdefs.Invalid(fmt.Sprintf("invalid subnet %s: too small for a gateway and a container (at most /30)", subnet))
	}
	gw := p.Addr().Next()
	if gateway != "" {
		if gw, err = netip.ParseAddr(gateway); err != nil || !gw.Is4() {
			return netip.Prefix{}, netip.Addr{}, errdefs.Invalid(fmt.Sprintf("invalid gateway %s: not an IPv4 address", gateway))
		}
		if !p.Contains(gw) || gw == p.Addr() || gw == lastAddr(p) {
			return netip.Prefix{}, netip.Addr{}, errdefs.Invalid(fmt.Sprintf("invalid gateway %s: not a host address of subnet %s", gateway, p))
		}
	}
	return p, gw, nil
}

// lastAddr is p's broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	hostBits := 32 - p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1<<hostBits - 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// allocate finds the first subnet of pool that overlaps neither taken nor
// the host's routes.
func allocate(pool AddressPool, taken []netip.Prefix) (netip.Prefix, error) {
	if !pool.Base.IsValid() || pool.Size < pool.Base.Bits() || pool.Size > 30 {
		return netip.Prefix{}, fmt.Errorf("address pool %s/%d is invalid", pool.Base, pool.Size)
	}
	used := append(append([]netip.Prefix(nil), taken...), hostPrefixes()...)
	step := uint32(1) << (32 - pool.Size)
	a := pool.Base.Masked().Addr().As4()
	start := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	count := uint32(1) << (pool.Size - pool.Base.Bits())
next:
	for i := uint32(0); i < count; i++ {
		v := start + i*step
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), pool.Size)
		for _, u := range used {
			if cand.Overlaps(u) {
				continue next
			}
		}
		return cand, nil
	}
	return netip.Prefix{}, errdefs.Conflict(fmt.Sprintf("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network (pool %s, /%d subnets)", pool.Base, pool.Size))
}
