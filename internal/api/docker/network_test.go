package docker

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	capnet "github.com/capsa-dev/capsa/internal/network"
)

func TestNetworkCreateOptions(t *testing.T) {
	yes := true
	subnet := func(s, gw string) *network.IPAM {
		c := network.IPAMConfig{}
		if s != "" {
			c.Subnet = netip.MustParsePrefix(s)
		}
		if gw != "" {
			c.Gateway = netip.MustParseAddr(gw)
		}
		return &network.IPAM{Config: []network.IPAMConfig{c}}
	}
	for _, tc := range []struct {
		name   string
		req    network.CreateRequest
		want   capnet.CreateOptions
		status int
		err    string
	}{
		{name: "plain", req: network.CreateRequest{Name: "web"}, want: capnet.CreateOptions{Name: "web", Driver: "bridge"}},
		{name: "subnet", req: network.CreateRequest{Name: "web", Driver: "bridge", Internal: true, IPAM: subnet("10.9.0.0/16", "10.9.0.1")},
			want: capnet.CreateOptions{Name: "web", Driver: "bridge", Internal: true, Subnet: "10.9.0.0/16", Gateway: "10.9.0.1"}},
		{name: "no name", req: network.CreateRequest{}, status: 400, err: "invalid name"},
		{name: "predefined", req: network.CreateRequest{Name: "host"}, status: 403, err: "operation is not permitted on predefined host network"},
		{name: "unknown driver", req: network.CreateRequest{Name: "n", Driver: "foo"}, status: 404, err: `plugin "foo" not found`},
		{name: "overlay", req: network.CreateRequest{Name: "n", Driver: "overlay"}, status: 501, err: "not supported"},
		{name: "ipv6", req: network.CreateRequest{Name: "n", EnableIPv6: &yes}, status: 501, err: "IPv6"},
		{name: "gateway without subnet", req: network.CreateRequest{Name: "n", IPAM: subnet("", "10.0.0.1")}, status: 400, err: "must have a corresponding subnet"},
		{name: "ipv6 subnet", req: network.CreateRequest{Name: "n", IPAM: subnet("fd00::/64", "")}, status: 501, err: "IPv6"},
		{name: "ipam driver", req: network.CreateRequest{Name: "n", IPAM: &network.IPAM{Driver: "dhcp"}}, status: 404, err: `plugin "dhcp" not found`},
	} {
		got, err := networkCreateOptions(tc.req)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || errdefs.HTTPStatus(err) != tc.status {
				t.Errorf("%s: got %v (%d), want %d %q", tc.name, err, errdefs.HTTPStatus(err), tc.status, tc.err)
			}
			continue
		}
		if err != nil || got.Name != tc.want.Name || got.Driver != tc.want.Driver || got.Subnet != tc.want.Subnet ||
			got.Gateway != tc.want.Gateway || got.Internal != tc.want.Internal {
			t.Errorf("%s: got %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestNetworkJSON(t *testing.T) {
	n := capnet.Network{
		ID: "abc", Name: "web", Driver: "bridge", Subnet: netip.MustParsePrefix("10.77.0.0/16"),
		Gateway: netip.MustParseAddr("10.77.0.1"), Labels: map[string]string{"a": "b"},
	}
	got := networkJSON(n, []engine.NetworkMember{{ContainerID: "cid", Name: "c1", Endpoint: engine.EndpointInfo{
		EndpointID: "eid", IP: netip.MustParsePrefix("10.77.0.2/16"), MAC: "02:42:0a:4d:00:02"}}})
	if got.Scope != "local" || got.IPAM.Driver != "default" || len(got.IPAM.Config) != 1 ||
		got.IPAM.Config[0].Subnet.String() != "10.77.0.0/16" || got.IPAM.Config[0].Gateway.String() != "10.77.0.1" {
		t.Errorf("network: got %+v", got.Network)
	}
	c := got.Containers["cid"]
	if c.Name != "c1" || c.EndpointID != "eid" || c.IPv4Address.String() != "10.77.0.2/16" || c.MacAddress.String() != "02:42:0a:4d:00:02" {
		t.Errorf("containers: got %+v", got.Containers)
	}
	host := networkJSON(capnet.Network{Name: "host", Driver: "host", Predefined: true}, nil)
	if host.IPAM.Config == nil || len(host.IPAM.Config) != 0 || host.Options == nil || host.Containers == nil {
		t.Errorf("host network: got %+v", host)
	}
}

func TestMatchNetwork(t *testing.T) {
	bridge := capnet.Network{ID: "b1", Name: "bridge", Driver: "bridge", Predefined: true}
	web := capnet.Network{ID: "w1234", Name: "web", Driver: "bridge", Labels: map[string]string{"env": "prod"}}
	for _, tc := range []struct {
		f    map[string][]string
		n    capnet.Network
		want bool
	}{
		{map[string][]string{}, bridge, true},
		{map[string][]string{"type": {"custom"}}, bridge, false},
		{map[string][]string{"type": {"builtin"}}, bridge, true},
		{map[string][]string{"type": {"custom"}}, web, true},
		{map[string][]string{"name": {"we"}}, web, true},
		{map[string][]string{"name": {"^bri"}}, web, false},
		{map[string][]string{"id": {"w12"}}, web, true},
		{map[string][]string{"id": {"12"}}, web, false},
		{map[string][]string{"label": {"env=prod"}}, web, true},
		{map[string][]string{"label": {"env=dev"}}, web, false},
		{map[string][]string{"driver": {"host"}}, web, false},
	} {
		if got := matchNetwork(tc.f, tc.n); got != tc.want {
			t.Errorf("%v on %s: got %v, want %v", tc.f, tc.n.Name, got, tc.want)
		}
	}
}

func TestPruneKeep(t *testing.T) {
	now := time.Now()
	old := capnet.Network{Name: "old", Created: now.Add(-2 * time.Hour), Labels: map[string]string{"keep": "1"}}
	fresh := capnet.Network{Name: "fresh", Created: now}
	for _, tc := range []struct {
		f    map[string][]string
		n    capnet.Network
		want bool // kept
	}{
		{map[string][]string{}, fresh, false},
		{map[string][]string{}, capnet.Network{Name: "bridge", Predefined: true}, true},
		{map[string][]string{"until": {"1h"}}, fresh, true},
		{map[string][]string{"until": {"1h"}}, old, false},
		{map[string][]string{"label": {"keep"}}, fresh, true},
		{map[string][]string{"label!": {"keep"}}, old, true},
		{map[string][]string{"label!": {"keep"}}, fresh, false},
	} {
		keep, err := pruneKeep(tc.f, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := keep(tc.n); got != tc.want {
			t.Errorf("%v on %s: kept %v, want %v", tc.f, tc.n.Name, got, tc.want)
		}
	}
	if _, err := pruneKeep(map[string][]string{"dangling": {"true"}}, now); err == nil || errdefs.HTTPStatus(err) != 400 {
		t.Errorf("unknown filter: got %v, want a 400", err)
	}
}
