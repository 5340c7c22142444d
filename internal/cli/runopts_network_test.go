package cli

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
)

func TestParsePortSpec(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	any4 := netip.MustParseAddr("0.0.0.0")
	p := network.MustParsePort
	for _, tc := range []struct {
		spec string
		want network.PortMap
		err  string
	}{
		{spec: "80", want: network.PortMap{p("80/tcp"): {{}}}},
		{spec: "8080:80", want: network.PortMap{p("80/tcp"): {{HostPort: "8080"}}}},
		{spec: "127.0.0.1:8080:80/udp", want: network.PortMap{p("80/udp"): {{HostIP: lo, HostPort: "8080"}}}},
		{spec: "8000-8001:80-81", want: network.PortMap{p("80/tcp"): {{HostPort: "8000"}}, p("81/tcp"): {{HostPort: "8001"}}}},
		{spec: "8000-8010:80", want: network.PortMap{p("80/tcp"): {{HostPort: "8000-8010"}}}},
		{spec: "0.0.0.0::80", want: network.PortMap{p("80/tcp"): {{HostIP: any4}}}},
		{spec: "[::1]:8080:80", want: network.PortMap{p("80/tcp"): {{HostIP: netip.MustParseAddr("::1"), HostPort: "8080"}}}},
		{spec: "80/UDP", want: network.PortMap{p("80/udp"): {{}}}},
		{spec: "8000-8002:80-81", err: "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"},
		{spec: "80/sctpx", err: "invalid proto: sctpx"},
		{spec: "abc:80", err: "invalid hostPort: abc"},
		{spec: "8080:abc", err: "invalid containerPort: abc"},
		{spec: "1.2.3:8080:80", err: "invalid IP address: 1.2.3"},
		{spec: "8080:", err: "no port specified: 8080:<empty>"},
		{spec: "70000", err: "invalid containerPort: 70000"},
	} {
		_, got, err := parsePortSpecs([]string{tc.spec})
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: got %v, want error %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v %v, want %v", tc.spec, got, err, tc.want)
		}
	}
}

func TestParseExpose(t *testing.T) {
	p := network.MustParsePort
	got := network.PortSet{}
	if err := parseExpose(got, []string{"80", "53/udp", "9000-9001"}); err != nil {
		t.Fatal(err)
	}
	want := network.PortSet{p("80/tcp"): {}, p("53/udp"): {}, p("9000/tcp"): {}, p("9001/tcp"): {}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for spec, want := range map[string]string{
		"80:80": "invalid port format for --expose: 80:80",
		"x":     "invalid range format for --expose: x",
	} {
		if err := parseExpose(network.PortSet{}, []string{spec}); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", spec, err, want)
		}
	}
}

func TestRunNetworkFlags(t *testing.T) {
	p := network.MustParsePort
	c, err := parseRun(t, "--network", "front", "--network-alias", "web", "--ip", "10.1.0.9",
		"-p", "127.0.0.1:8080:80", "--expose", "9000", "-P",
		"--dns", "1.1.1.1", "--dns-search", "example.com", "--dns-option", "ndots:2",
		"--add-host", "db:10.0.0.5", "--volumes-from", "data:ro", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	hc := c.HostConfig
	if hc.NetworkMode != "front" || !hc.PublishAllPorts {
		t.Errorf("mode %q publish-all %v", hc.NetworkMode, hc.PublishAllPorts)
	}
	wantBind := network.PortMap{p("80/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"}}}
	if !reflect.DeepEqual(hc.PortBindings, wantBind) {
		t.Errorf("bindings: got %v, want %v", hc.PortBindings, wantBind)
	}
	wantExposed := network.PortSet{p("80/tcp"): {}, p("9000/tcp"): {}}
	if !reflect.DeepEqual(c.Config.ExposedPorts, wantExposed) {
		t.Errorf("exposed: got %v, want %v", c.Config.ExposedPorts, wantExposed)
	}
	if !reflect.DeepEqual(hc.DNS, []netip.Addr{netip.MustParseAddr("1.1.1.1")}) || !reflect.DeepEqual(hc.DNSSearch, []string{"example.com"}) ||
		!reflect.DeepEqual(hc.DNSOptions, []string{"ndots:2"}) || !reflect.DeepEqual(hc.ExtraHosts, []string{"db:10.0.0.5"}) ||
		!reflect.DeepEqual(hc.VolumesFrom, []string{"data:ro"}) {
		t.Errorf("dns/hosts/volumes-from: %v %v %v %v %v", hc.DNS, hc.DNSSearch, hc.DNSOptions, hc.ExtraHosts, hc.VolumesFrom)
	}
	ep := c.Networking.EndpointsConfig["front"]
	if ep == nil || !reflect.DeepEqual(ep.Aliases, []string{"web"}) || ep.IPAMConfig == nil || ep.IPAMConfig.IPv4Address.String() != "10.1.0.9" {
		t.Errorf("endpoint: got %+v", c.Networking.EndpointsConfig)
	}

	c, err = parseRun(t, "--network-alias", "a", "busybox")
	if err != nil || c.Networking.EndpointsConfig["default"] == nil || c.HostConfig.NetworkMode != "default" {
		t.Errorf("alias on the default network: got %+v %v", c.Networking, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dns", "nope", "busybox"}, `invalid argument "nope" for "--dns" flag: IP address is not correctly formatted: nope`},
		{[]string{"--add-host", "nocolon", "busybox"}, `invalid argument "nocolon" for "--add-host" flag: bad format for add-host: "nocolon"`},
		{[]string{"-p", "8000-8002:80-81", "busybox"}, "invalid ranges specified"},
		{[]string{"--ip", "fd00::1", "--network", "n", "busybox"}, "invalid IPv4 address: fd00::1"},
	} {
		if _, err := parseRun(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.args, err, tc.want)
		}
	}
}
