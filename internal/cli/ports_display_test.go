package cli

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func TestDisplayablePorts(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	any4 := netip.MustParseAddr("0.0.0.0")
	for _, tc := range []struct {
		ports []container.PortSummary
		want  string
	}{
		{nil, ""},
		{[]container.PortSummary{{IP: lo, PrivatePort: 80, PublicPort: 8080, Type: "tcp"}}, "127.0.0.1:8080->80/tcp"},
		{[]container.PortSummary{{PrivatePort: 9000, Type: "udp"}}, "9000/udp"},
		{[]container.PortSummary{
			{IP: any4, PrivatePort: 8001, PublicPort: 8001, Type: "tcp"},
			{IP: any4, PrivatePort: 8000, PublicPort: 8000, Type: "tcp"},
			{PrivatePort: 53, Type: "udp"},
			{IP: netip.MustParseAddr("::"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
		}, "53/udp, 0.0.0.0:8000-8001->8000-8001/tcp, [::]:8080->80/tcp"},
	} {
		if got := displayablePorts(tc.ports); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.ports, got, tc.want)
		}
	}
}

func TestPortLines(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	p := network.MustParsePort
	ports := network.PortMap{
		p("80/tcp"):   {{HostIP: lo, HostPort: "8080"}},
		p("9/udp"):    {{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: "32768"}},
		p("9000/tcp"): nil,
	}
	for _, tc := range []struct {
		private string
		want    []string
		err     string
	}{
		{"", []string{"9/udp -> 0.0.0.0:32768", "80/tcp -> 127.0.0.1:8080"}, ""},
		{"80", []string{"127.0.0.1:8080"}, ""},
		{"80/tcp", []string{"127.0.0.1:8080"}, ""},
		{"9000", nil, "Error: No public port '9000' published for web"},
		{"81/udp", nil, "Error: No public port '81/udp' published for web"},
		{"x", nil, "Error: invalid port (x)"},
	} {
		got, err := portLines(ports, "web", tc.private)
		if tc.err != "" {
			if err == nil || len(err.Error()) < len(tc.err) || err.Error()[:len(tc.err)] != tc.err {
				t.Errorf("%q: got %v, want error %q", tc.private, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q %v, want %q", tc.private, got, err, tc.want)
		}
	}
}
