package network

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// reservation holds a published port's socket, bound and never listening:
// while the container runs, no other program can take the port, and a
// port that is already taken is an error at start, not a silently dead
// DNAT rule. The traffic itself never reaches the socket: the portmap
// plugin's DNAT sends it to the container first.
type reservation struct{ fd int }

func (r reservation) release() { _ = unix.Close(r.fd) }

// reserve binds p's host address and port (port 0: the kernel picks one,
// which p gets).
func reserve(p *PortMapping) (reservation, error) {
	typ := unix.SOCK_STREAM
	if p.Protocol == "udp" {
		typ = unix.SOCK_DGRAM
	}
	ip := netip.IPv4Unspecified()
	if p.HostIP != "" {
		a, err := netip.ParseAddr(p.HostIP)
		if err != nil || !a.Is4() {
			return reservation{}, errdefs.Invalid(fmt.Sprintf("invalid host IP %q for port %d/%s: only IPv4 addresses can be bound", p.HostIP, p.ContainerPort, p.Protocol))
		}
		ip = a
	}
	if p.HostPortEnd > p.HostPort {
		// A range: the first port of it that is free.
		first, last := p.HostPort, p.HostPortEnd
		for port := first; port <= last; port++ {
			q := *p
			q.HostPort, q.HostPortEnd = port, 0
			r, err := reserve(&q)
			if err == nil {
				*p = q
				return r, nil
			}
			if !errors.Is(err, errdefs.ErrConflict) {
				return reservation{}, err
			}
		}
		return reservation{}, errdefs.Conflict(fmt.Sprintf("Bind for %s:%d-%d failed: port is already allocated", ip, first, last))
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return reservation{}, fmt.Errorf("reserve port: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: p.HostPort, Addr: ip.As4()}); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EADDRINUSE) {
			return reservation{}, errdefs.Conflict(fmt.Sprintf("Bind for %s:%d failed: port is already allocated", ip, p.HostPort))
		}
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return reservation{}, errdefs.Invalid(fmt.Sprintf("Bind for %s:%d failed: the host has no address %s", ip, p.HostPort, ip))
		}
		return reservation{}, fmt.Errorf("bind %s:%d/%s: %w", ip, p.HostPort, p.Protocol, err)
	}
	if p.HostPort == 0 {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return reservation{}, fmt.Errorf("reserve port: %w", err)
		}
		p.HostPort = sa.(*unix.SockaddrInet4).Port
	}
	return reservation{fd: fd}, nil
}
