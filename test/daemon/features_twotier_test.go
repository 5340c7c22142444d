package daemon_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureTwoTierApp is the compose-style app, through the
// capsa CLI and through Debian's docker CLI at capsad: a web server whose
// pages live in a named volume, published on the host, and a client that
// calls it by name on their network; the data outlives the server.
func TestFeatureTwoTierApp(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	for _, cli := range []struct {
		name string
		run  func(args ...string) daemontest.Result
	}{
		{"capsa", d.Capsa},
		{"docker", d.Docker},
	} {
		t.Run(cli.name, func(t *testing.T) {
			must := func(args ...string) string {
				t.Helper()
				r := cli.run(args...)
				if r.Code != 0 {
					t.Fatalf("%s %s: %v", cli.name, strings.Join(args, " "), r)
				}
				return r.Stdout
			}
			net, vol := cli.name+"-app", cli.name+"-pages"
			must("network", "create", net)
			must("volume", "create", vol)
			must("run", "--rm", "-v", vol+":/www", "busybox", "sh", "-c", "echo tier-two > /www/index.html")
			port := freePort(t)
			serve := func() {
				must("run", "-d", "--name", cli.name+"-web", "--network", net, "--network-alias", "api",
					"-v", vol+":/www:ro", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
			}
			serve()
			// The host through the published port.
			if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "tier-two\n" {
				t.Errorf("host → web: %q", body)
			}
			// The network and the port, as each CLI shows them.
			if out := must("network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, net+" bridge\n") || !strings.Contains(out, "bridge bridge\n") || !strings.Contains(out, "host host\n") || !strings.Contains(out, "none null\n") {
				t.Errorf("network ls: %q", out)
			}
			if out := must("network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", net); out != cli.name+"-web\n" {
				t.Errorf("network inspect containers: %q", out)
			}
			if out := must("port", cli.name+"-web", "80"); out != fmt.Sprintf("127.0.0.1:%d\n", port) {
				t.Errorf("port: %q", out)
			}
			// The client by name and by alias.
			for _, host := range []string{cli.name + "-web", "api"} {
				if out := must("run", "--rm", "--network", net, "busybox", "wget", "-qO-", "http://"+host+"/"); out != "tier-two\n" {
					t.Errorf("client → %s: %q", host, out)
				}
			}
			// The server goes and comes back: the data is still there.
			must("rm", "-f", cli.name+"-web")
			serve()
			if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "tier-two\n" {
				t.Errorf("host → new web: %q", body)
			}
			// --volumes-from: a sidecar sees the server's volume.
			if out := must("run", "--rm", "--volumes-from", cli.name+"-web", "busybox", "cat", "/www/index.html"); out != "tier-two\n" {
				t.Errorf("--volumes-from: %q", out)
			}
			must("rm", "-f", cli.name+"-web")
			must("network", "rm", net)
			must("volume", "rm", vol)
		})
	}
}
