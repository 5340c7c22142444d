package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// cannedDaemon serves the Docker API paths in routes (without the version
// prefix) with canned JSON, and answers /_ping.
func cannedDaemon(t *testing.T, routes map[string]any) *CLI {
	t.Helper()
	version := regexp.MustCompile(`^/v[0-9.]+`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := version.ReplaceAllString(r.URL.Path, "")
		w.Header().Set("Api-Version", "1.56")
		if path == "/_ping" {
			_, _ = w.Write([]byte("OK"))
			return
		}
		v, ok := routes[r.Method+" "+path]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"network ` + strings.TrimPrefix(path, "/networks/") + ` not found"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	// host is given to each command line as -H (the flag resets the field).
	return &CLI{host: "tcp://" + srv.Listener.Addr().String()}
}

// run runs a capsa command line against c and returns its output and
// exit status.
func runCanned(c *CLI, args ...string) (string, string, int) {
	host := c.host
	defer func() { c.host = host }()
	var out, errOut bytes.Buffer
	c.Out, c.Err = &out, &errOut
	root := c.NewRootCommand()
	root.SetArgs(append([]string{"-H", host}, args...))
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = 1
		if se, ok := err.(StatusError); ok {
			code = se.StatusCode
			errOut.WriteString(se.Status)
		} else {
			errOut.WriteString(err.Error())
		}
	}
	if c.client != nil {
		_ = c.client.Close()
		c.client = nil
	}
	return out.String(), errOut.String(), code
}

var testNetworks = []network.Summary{
	{Network: network.Network{ID: "f1e2d3c4b5a69788796a5b4c3d2e1f00aabbccddeeff00112233445566778899", Name: "web", Driver: "bridge", Scope: "local", Created: time.Unix(0, 0)}},
	{Network: network.Network{ID: "0a1b2c3d4e5f60718293a4b5c6d7e8f900112233445566778899aabbccddeeff", Name: "bridge", Driver: "bridge", Scope: "local"}},
	{Network: network.Network{ID: "1111222233334444555566667777888899990000aaaabbbbccccddddeeeeffff", Name: "host", Driver: "host", Scope: "local"}},
}

func TestNetworkLs(t *testing.T) {
	c := cannedDaemon(t, map[string]any{"GET /networks": testNetworks})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "ls"}, `NETWORK ID     NAME      DRIVER    SCOPE
0a1b2c3d4e5f   bridge    bridge    local
111122223333   host      host      local
f1e2d3c4b5a6   web       bridge    local
`},
		{[]string{"network", "ls", "-q"}, "0a1b2c3d4e5f\n111122223333\nf1e2d3c4b5a6\n"},
		{[]string{"network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Internal}}"}, "bridge bridge false\nhost host false\nweb bridge false\n"},
	} {
		out, errOut, code := runCanned(c, tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("%q: got %d\n%s%s\nwant\n%s", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestPortCommand(t *testing.T) {
	ins := container.InspectResponse{ID: "abc", Name: "/web", NetworkSettings: &container.NetworkSettings{
		Ports: network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: "8080"}}},
	}}
	ins.NetworkSettings.Ports[network.MustParsePort("80/tcp")][0].HostIP = mustAddr("127.0.0.1")
	c := cannedDaemon(t, map[string]any{"GET /containers/web/json": ins})
	out, errOut, code := runCanned(c, "port", "web")
	if code != 0 || out != "80/tcp -> 127.0.0.1:8080\n" {
		t.Errorf("port web: got %d %q %q", code, out, errOut)
	}
	out, _, code = runCanned(c, "port", "web", "80/tcp")
	if code != 0 || out != "127.0.0.1:8080\n" {
		t.Errorf("port web 80/tcp: got %d %q", code, out)
	}
	_, errOut, code = runCanned(c, "port", "web", "81")
	if code != 1 || errOut != "Error: No public port '81' published for web" {
		t.Errorf("port web 81: got %d %q", code, errOut)
	}
}

func TestNetworkRm(t *testing.T) {
	c := cannedDaemon(t, map[string]any{"DELETE /networks/web": nil})
	out, errOut, code := runCanned(c, "network", "rm", "web", "nope")
	if code != 1 || out != "web\n" || !strings.Contains(errOut, "network nope not found") {
		t.Errorf("rm web nope: got %d %q %q", code, out, errOut)
	}
	out, errOut, code = runCanned(c, "network", "rm", "-f", "nope")
	if code != 0 || out != "" || errOut != "" {
		t.Errorf("rm -f nope: got %d %q %q", code, out, errOut)
	}
}

func TestNetworkIPAM(t *testing.T) {
	ipam, err := networkIPAM("default", []string{"10.9.0.0/16"}, []string{"10.9.0.1"}, nil)
	if err != nil || len(ipam.Config) != 1 || ipam.Config[0].Subnet.String() != "10.9.0.0/16" || ipam.Config[0].Gateway.String() != "10.9.0.1" {
		t.Errorf("got %+v %v", ipam, err)
	}
	for _, tc := range []struct {
		subnets, gateways []string
		want              string
	}{
		{nil, []string{"10.9.0.1"}, "every ip-range or gateway must have a corresponding subnet"},
		{[]string{"10.9.0.0/16"}, []string{"10.8.0.1"}, "no matching subnet for gateway 10.8.0.1"},
		{[]string{"10.9.0/16"}, nil, "invalid subnet 10.9.0/16"},
	} {
		if _, err := networkIPAM("default", tc.subnets, tc.gateways, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: got %v, want %q", tc.subnets, tc.gateways, err, tc.want)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
