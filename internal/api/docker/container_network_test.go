package docker

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
)

// runningInfo is a container on the default bridge that exposes 80/tcp
// (published on 127.0.0.1:8080) and 9000/udp (not published).
func runningInfo(t *testing.T) engine.Info {
	t.Helper()
	cfg, _ := json.Marshal(container.Config{ExposedPorts: network.PortSet{port("9000/udp"): {}}})
	hc, _ := json.Marshal(container.HostConfig{PortBindings: network.PortMap{port("80/tcp"): {{HostPort: "8080"}}}})
	return engine.Info{
		ID: "0123456789abcdef0123", Name: "web",
		State:      engine.State{Status: engine.StatusRunning},
		Extensions: map[string]json.RawMessage{extConfig: cfg, extHostConfig: hc},
		Network: engine.NetworkInfo{
			SandboxKey: "/run/capsa/netns/0123",
			Ports:      []engine.PortBinding{{Proto: "tcp", ContainerPort: 80, HostIP: "127.0.0.1", HostPort: 8080}},
			Endpoints: []engine.EndpointInfo{{
				Network: "bridge", NetworkID: "nid", EndpointID: "eid",
				IP: netip.MustParsePrefix("10.77.0.2/16"), Gateway: netip.MustParseAddr("10.77.0.1"), MAC: "02:42:0a:4d:00:02",
			}},
		},
	}
}

func TestInspectNetworkSettings(t *testing.T) {
	in := runningInfo(t)
	resp := inspectResponse(in)
	ns := resp.NetworkSettings
	if ns.SandboxKey != "/run/capsa/netns/0123" {
		t.Errorf("SandboxKey: got %q", ns.SandboxKey)
	}
	wantPorts := network.PortMap{
		port("80/tcp"):   {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"}},
		port("9000/udp"): nil,
	}
	if !reflect.DeepEqual(ns.Ports, wantPorts) {
		t.Errorf("Ports: got %v, want %v", ns.Ports, wantPorts)
	}
	b, _ := json.Marshal(ns.Ports)
	if got, want := string(b), `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"9000/udp":null}`; got != want {
		t.Errorf("Ports JSON: got %s, want %s", got, want)
	}
	es := ns.Networks["bridge"]
	if es == nil || es.NetworkID != "nid" || es.EndpointID != "eid" || es.IPAddress.String() != "10.77.0.2" ||
		es.IPPrefixLen != 16 || es.Gateway.String() != "10.77.0.1" || es.MacAddress.String() != "02:42:0a:4d:00:02" {
		t.Errorf("Networks[bridge]: got %+v", es)
	}
	if resp.HostConfig.NetworkMode != "bridge" {
		t.Errorf("NetworkMode: got %q, want bridge", resp.HostConfig.NetworkMode)
	}

	legacy, _ := json.Marshal(legacyInspect(resp))
	var m struct{ NetworkSettings map[string]any }
	_ = json.Unmarshal(legacy, &m)
	for k, want := range map[string]any{"IPAddress": "10.77.0.2", "IPPrefixLen": 16.0, "Gateway": "10.77.0.1", "MacAddress": "02:42:0a:4d:00:02", "EndpointID": "eid"} {
		if got := m.NetworkSettings[k]; got != want {
			t.Errorf("legacy %s: got %v, want %v", k, got, want)
		}
	}
	if _, ok := m.NetworkSettings["Networks"]; !ok {
		t.Error("legacy inspect lost Networks")
	}
}

func TestInspectNetworkStopped(t *testing.T) {
	in := runningInfo(t)
	in.State.Status = engine.StatusExited
	if ports := inspectResponse(in).NetworkSettings.Ports; len(ports) != 0 || ports == nil {
		t.Errorf("stopped Ports: got %v, want {}", ports)
	}
	// A container made before networks: no network info at all.
	old := engine.Info{ID: "0123456789abcdef", Name: "old", State: engine.State{Status: engine.StatusRunning}}
	ns := inspectResponse(old).NetworkSettings
	if _, ok := ns.Networks["bridge"]; !ok || len(ns.Networks) != 1 {
		t.Errorf("old container Networks: got %v, want the bridge", ns.Networks)
	}
}

func TestListPorts(t *testing.T) {
	sm := summary(runningInfo(t), runningInfo(t).Created)
	want := []container.PortSummary{
		{IP: netip.MustParseAddr("127.0.0.1"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
		{PrivatePort: 9000, Type: "udp"},
	}
	if !reflect.DeepEqual(sm.Ports, want) {
		t.Errorf("Ports: got %+v, want %+v", sm.Ports, want)
	}
	if sm.NetworkSettings == nil || sm.NetworkSettings.Networks["bridge"] == nil {
		t.Errorf("NetworkSettings: got %+v", sm.NetworkSettings)
	}
	if sm.HostConfig.NetworkMode != "bridge" {
		t.Errorf("NetworkMode: got %q", sm.HostConfig.NetworkMode)
	}
}
