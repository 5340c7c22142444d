package docker

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

func port(s string) network.Port { return network.MustParsePort(s) }

func TestNetworkOptions(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name     string
		cfg      container.Config
		hc       container.HostConfig
		nc       *network.NetworkingConfig
		want     engine.NetworkOptions
		warnings []string
	}{
		{name: "default", hc: container.HostConfig{NetworkMode: "default"}},
		{name: "empty mode", want: engine.NetworkOptions{}},
		{name: "bridge", hc: container.HostConfig{NetworkMode: "bridge"}, want: engine.NetworkOptions{Mode: "bridge"}},
		{name: "none", hc: container.HostConfig{NetworkMode: "none"}, want: engine.NetworkOptions{Mode: "none"}},
		{name: "container", hc: container.HostConfig{NetworkMode: "container:web"}, want: engine.NetworkOptions{Mode: "container:web"}},
		{name: "user network", hc: container.HostConfig{NetworkMode: "mynet"}, want: engine.NetworkOptions{Mode: "mynet"}},
		{
			name: "ports",
			hc: container.HostConfig{PortBindings: network.PortMap{
				port("80/tcp"):  {{HostIP: lo, HostPort: "8080"}},
				port("53/udp"):  {{HostPort: ""}},
				port("443/tcp"): {{HostPort: "8000-8010"}},
			}},
			want: engine.NetworkOptions{Ports: []engine.PortBinding{
				{Proto: "udp", ContainerPort: 53},
				{Proto: "tcp", ContainerPort: 80, HostIP: "127.0.0.1", HostPort: 8080},
				{Proto: "tcp", ContainerPort: 443, HostPort: 8000, HostPortEnd: 8010},
			}},
		},
		{
			name: "publish all",
			cfg:  container.Config{ExposedPorts: network.PortSet{port("80/tcp"): {}, port("9000/udp"): {}}},
			hc: container.HostConfig{PublishAllPorts: true, PortBindings: network.PortMap{
				port("80/tcp"): {{HostPort: "8080"}},
			}},
			want: engine.NetworkOptions{Ports: []engine.PortBinding{
				{Proto: "tcp", ContainerPort: 80, HostPort: 8080},
				{Proto: "udp", ContainerPort: 9000},
			}, PublishAll: true},
		},
		{
			name: "exposed without -P publishes nothing",
			cfg:  container.Config{ExposedPorts: network.PortSet{port("80/tcp"): {}}},
		},
		{
			name:     "host drops ports with a warning",
			hc:       container.HostConfig{NetworkMode: "host", PortBindings: network.PortMap{port("80/tcp"): {{HostPort: "80"}}}},
			want:     engine.NetworkOptions{Mode: "host"},
			warnings: []string{"Published ports are discarded when using host network mode"},
		},
		{
			name: "dns and hosts",
			hc: container.HostConfig{
				DNS: []netip.Addr{netip.MustParseAddr("1.1.1.1")}, DNSSearch: []string{"example.com"}, DNSOptions: []string{"ndots:2"},
				ExtraHosts: []string{"db:10.0.0.5", "gw=host-gateway", "v6:::1", "b6:[::2]"},
			},
			want: engine.NetworkOptions{
				DNS: []string{"1.1.1.1"}, DNSSearch: []string{"example.com"}, DNSOptions: []string{"ndots:2"},
				ExtraHosts: []string{"db:10.0.0.5", "gw:host-gateway", "v6:::1", "b6:::2"},
			},
		},
		{
			name: "endpoints",
			hc:   container.HostConfig{NetworkMode: "front"},
			nc: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
				"front": {Aliases: []string{"web"}, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.1.0.9")}},
				"back":  {},
			}},
			want: engine.NetworkOptions{Mode: "front", Endpoints: map[string]engine.EndpointOptions{
				"front": {Aliases: []string{"web"}, IPv4: "10.1.0.9"},
				"back":  {},
			}},
		},
		{
			name: "default endpoint of a user network",
			hc:   container.HostConfig{NetworkMode: "front"},
			nc: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
				"default": {Aliases: []string{"a"}},
			}},
			want: engine.NetworkOptions{Mode: "front", Endpoints: map[string]engine.EndpointOptions{"front": {Aliases: []string{"a"}}}},
		},
		{
			name: "empty endpoint of the mode's network",
			hc:   container.HostConfig{NetworkMode: "front"},
			nc:   &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"front": {}}},
			want: engine.NetworkOptions{Mode: "front"},
		},
	} {
		got, warnings, err := networkOptions(&tc.cfg, &tc.hc, tc.nc)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tc.name, got, tc.want)
		}
		if !reflect.DeepEqual(warnings, tc.warnings) {
			t.Errorf("%s: warnings got %q, want %q", tc.name, warnings, tc.warnings)
		}
	}
}

func TestNetworkOptionsErrors(t *testing.T) {
	v6 := netip.MustParseAddr("fd00::1")
	for _, tc := range []struct {
		name   string
		cfg    container.Config
		hc     container.HostConfig
		nc     *network.NetworkingConfig
		status int
		want   string
	}{
		{name: "container with -p", hc: container.HostConfig{NetworkMode: "container:web", PortBindings: network.PortMap{port("80/tcp"): {{}}}}, status: 400, want: "conflicting options: port publishing and the container type network mode"},
		{name: "container with -P", hc: container.HostConfig{NetworkMode: "container:web", PublishAllPorts: true}, status: 400, want: "conflicting options: port publishing"},
		{name: "container with --expose", cfg: container.Config{ExposedPorts: network.PortSet{port("80/tcp"): {}}}, hc: container.HostConfig{NetworkMode: "container:web"}, status: 400, want: "conflicting options: port exposing and the container type network mode"},
		{name: "container with --dns", hc: container.HostConfig{NetworkMode: "container:web", DNS: []netip.Addr{netip.MustParseAddr("1.1.1.1")}}, status: 400, want: "conflicting options: dns and the network mode"},
		{name: "container with --add-host", hc: container.HostConfig{NetworkMode: "container:web", ExtraHosts: []string{"a:1.2.3.4"}}, status: 400, want: "conflicting options: custom host-to-IP mapping and the network mode"},
		{name: "container with -h", cfg: container.Config{Hostname: "h"}, hc: container.HostConfig{NetworkMode: "container:web"}, status: 400, want: "conflicting options: hostname and the network mode"},
		{name: "container without name", hc: container.HostConfig{NetworkMode: "container:"}, status: 400, want: "invalid container format"},
		{name: "add-host without colon", hc: container.HostConfig{ExtraHosts: []string{"nocolon"}}, status: 400, want: `bad format for add-host: "nocolon"`},
		{name: "add-host bad ip", hc: container.HostConfig{ExtraHosts: []string{"a:1.2.3"}}, status: 400, want: `invalid IP address in add-host: "1.2.3"`},
		{name: "bad host port", hc: container.HostConfig{PortBindings: network.PortMap{port("80/tcp"): {{HostPort: "abc"}}}}, status: 400, want: `invalid port specification: "abc"`},
		{name: "bad host port range", hc: container.HostConfig{PortBindings: network.PortMap{port("80/tcp"): {{HostPort: "9000-8000"}}}}, status: 400, want: `invalid port specification: "9000-8000"`},
		{name: "bad proto", hc: container.HostConfig{PortBindings: network.PortMap{port("80/sctpx"): {{}}}}, status: 400, want: "invalid proto: sctpx"},
		{name: "sctp", hc: container.HostConfig{PortBindings: network.PortMap{port("80/sctp"): {{}}}}, status: 501, want: "sctp is not supported"},
		{name: "port zero", hc: container.HostConfig{PortBindings: network.PortMap{port("0/tcp"): {{}}}}, status: 400, want: `invalid port specification: "0"`},
		{name: "IPv6 host ip", hc: container.HostConfig{PortBindings: network.PortMap{port("80/tcp"): {{HostIP: v6}}}}, status: 501, want: "IPv6"},
		{name: "alias on the default bridge", nc: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"default": {Aliases: []string{"a"}}}}, status: 400, want: "network-scoped alias is supported only for containers in user defined networks"},
		{name: "ip on bridge", hc: container.HostConfig{NetworkMode: "bridge"}, nc: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"bridge": {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.17.0.9")}}}}, status: 400, want: "user specified IP address is supported on user defined networks only"},
		{name: "IPv6 as IPv4", hc: container.HostConfig{NetworkMode: "n"}, nc: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"n": {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: v6}}}}, status: 400, want: "invalid IPv4 address: fd00::1"},
	} {
		_, _, err := networkOptions(&tc.cfg, &tc.hc, tc.nc)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errdefs.HTTPStatus(err) != tc.status {
			t.Errorf("%s: got %v (status %d), want %d %q", tc.name, err, errdefs.HTTPStatus(err), tc.status, tc.want)
		}
	}
}

func TestCreateOptionsNetwork(t *testing.T) {
	s := New(nil, Config{})
	o, warnings, err := s.createOptions("web", &container.Config{Image: "busybox"}, &container.HostConfig{
		NetworkMode: "mynet", VolumesFrom: []string{"data:ro"},
		PortBindings: network.PortMap{port("80/tcp"): {{HostPort: "8080"}}},
	}, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"mynet": {Aliases: []string{"w"}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := engine.NetworkOptions{
		Mode:      "mynet",
		Endpoints: map[string]engine.EndpointOptions{"mynet": {Aliases: []string{"w"}}},
		Ports:     []engine.PortBinding{{Proto: "tcp", ContainerPort: 80, HostPort: 8080}},
	}
	if !reflect.DeepEqual(o.Network, want) || len(warnings) != 0 {
		t.Errorf("network: got %+v %q, want %+v", o.Network, warnings, want)
	}
	if !reflect.DeepEqual(o.VolumesFrom, []string{"data:ro"}) {
		t.Errorf("volumes-from: got %q", o.VolumesFrom)
	}
	if _, _, err := s.createOptions("web", &container.Config{Image: "busybox"}, &container.HostConfig{VolumesFrom: []string{"data:xx"}}, nil); err == nil || errdefs.HTTPStatus(err) != 400 {
		t.Errorf("volumes-from data:xx: got %v, want a 400", err)
	}
}
