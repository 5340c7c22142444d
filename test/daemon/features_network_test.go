package daemon_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// freePort is a TCP port of 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpGet fetches url from the host, retrying while the server starts.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	var last error
	// No keep-alive: an idle connection the client keeps open leaves the
	// container's end of it waiting for the client's FIN (FIN_WAIT2, up
	// to a minute) after the server is gone, and such a socket keeps its
	// network namespace, and the veth, alive that long after rm.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c := http.Client{Timeout: 2 * time.Second, Transport: tr}
		resp, err := c.Get(url)
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == 200 {
			return string(body)
		}
		last = fmt.Errorf("status %d, %v", resp.StatusCode, err)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

// webServer runs busybox httpd serving "hello from NAME" at / (args:
// extra run flags before the image).
func webServer(t *testing.T, d *daemontest.Daemon, name string, args ...string) {
	t.Helper()
	run := append([]string{"run", "-d", "--name", name}, args...)
	run = append(run, "busybox", "sh", "-c", `mkdir -p /www && echo "hello from `+name+`" > /www/index.html && exec httpd -f -p 80 -h /www`)
	d.MustCapsa(run...)
}

// networkLeftovers lists the addresses leased on network net and the
// veths on its bridge, once they are not going any more. The leases are
// released before rm returns; a veth goes with its namespace, which the
// kernel destroys in the background once nothing holds it: milliseconds,
// unless a socket of the container's still waits for its peer (see
// httpGet), or a hundred namespaces go at once on a loaded host.
func networkLeftovers(t *testing.T, d *daemontest.Daemon, netName string) []string {
	t.Helper()
	return networkLeftoversSettled(t, d, netName, 0)
}

// networkLeftoversSettled waits (30 s at most) until net has want
// leftovers.
func networkLeftoversSettled(t *testing.T, d *daemontest.Daemon, netName string, want int) []string {
	t.Helper()
	var left []string
	start := time.Now()
	for deadline := start.Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left = networkLeftoversNow(t, d, netName)
		if len(left) == want || time.Now().After(deadline) {
			if waited := time.Since(start); waited > time.Second {
				t.Logf("network %s: %d leftovers after %v", netName, len(left), waited.Round(time.Millisecond))
			}
			if len(left) != want {
				// Who still holds a network namespace: processes in it.
				out, _ := exec.Command("lsns", "-t", "net", "-o", "NS,NPROCS,PID,NETNSID,NSFS,COMMAND").CombinedOutput()
				t.Logf("network namespaces now:\n%s", out)
			}
			return left
		}
	}
}

func networkLeftoversNow(t *testing.T, d *daemontest.Daemon, netName string) []string {
	t.Helper()
	id := strings.TrimSpace(d.MustCapsa("network", "inspect", "-f", "{{.Id}}", netName))
	bridge := "cbr-" + id[:11] // capsa's name for a user network's bridge
	if netName == "bridge" {
		bridge = d.Bridge()
	}
	var left []string
	leases, _ := filepath.Glob(filepath.Join(d.ExecRoot, "net", "ipam", "capsa-"+id[:12], "*.*.*.*"))
	left = append(left, leases...)
	if bridge != "" {
		out, _ := exec.Command("ip", "-o", "link", "show", "master", bridge).Output()
		if s := strings.TrimSpace(string(out)); s != "" {
			left = append(left, s)
		}
	}
	return left
}

// TestFeaturePublishedPort: -p 127.0.0.1:PORT:80 reaches busybox httpd
// from the host; port shows it; a port that is taken is refused with
// nothing left behind; -P publishes EXPOSE'd ports on free ones.
func TestFeaturePublishedPort(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	port := freePort(t)
	webServer(t, d, "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port))
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "hello from web\n" {
		t.Errorf("GET: %q", body)
	}
	if out := strings.TrimSpace(d.MustCapsa("port", "web")); out != fmt.Sprintf("80/tcp -> 127.0.0.1:%d", port) {
		t.Errorf("port: %q", out)
	}
	if out := d.MustCapsa("ps", "--format", "{{.Ports}}"); !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d->80/tcp", port)) {
		t.Errorf("ps ports: %q", out)
	}

	// The same host port again: refused, and nothing of the second
	// container's network is left.
	r := d.Capsa("run", "-d", "--name", "web2", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox", "sleep", "60")
	if r.Code == 0 || !strings.Contains(r.Stderr, "port is already allocated") {
		t.Errorf("second bind of %d: %v", port, r)
	}
	if left := networkLeftoversSettled(t, d, "bridge", 2); len(left) != 2 { // web's lease and veth
		t.Errorf("after the refused start: %d leftovers, want web's 2: %v", len(left), left)
	}
	d.MustCapsa("rm", "-f", "web2")

	// A host program's port is taken too.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	if r := d.Capsa("run", "--rm", "-p", fmt.Sprintf("127.0.0.1:%d:80", taken), "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "port is already allocated") {
		t.Errorf("bind of a host's port %d: %v", taken, r)
	}

	// -P with --expose: a port of the kernel's choosing.
	webServer(t, d, "web3", "-P", "--expose", "80", "-p", "127.0.0.1::81")
	out := strings.TrimSpace(d.MustCapsa("port", "web3", "80"))
	_, hp, ok := strings.Cut(out, ":")
	if !ok || hp == "0" {
		t.Fatalf("port web3 80: %q", out)
	}
	if body := httpGet(t, "http://127.0.0.1:"+hp+"/"); body != "hello from web3\n" {
		t.Errorf("GET -P port: %q", body)
	}

	// The image's EXPOSE: -P publishes it; unpublished, it shows as
	// docker's "80/tcp" and a null binding.
	d.MustCapsa("commit", "-c", "EXPOSE 80", "web", "webexp")
	d.MustCapsa("run", "-d", "--name", "exp", "-P", "webexp", "sh", "-c", `echo "hello from exp" > /www/index.html && exec httpd -f -p 80 -h /www`)
	out = strings.TrimSpace(d.MustCapsa("port", "exp", "80"))
	if _, hp, ok := strings.Cut(out, ":"); !ok || hp == "0" {
		t.Errorf("port exp 80 (EXPOSE, -P): %q", out)
	} else if body := httpGet(t, "http://127.0.0.1:"+hp+"/"); body != "hello from exp\n" {
		t.Errorf("GET EXPOSE'd port: %q", body)
	}
	d.MustCapsa("run", "-d", "--name", "exp2", "webexp", "sleep", "600")
	if out := strings.TrimSpace(d.MustCapsa("ps", "--filter", "name=exp2", "--format", "{{.Ports}}")); out != "80/tcp" {
		t.Errorf("ps ports of an unpublished EXPOSE: %q", out)
	}
	if out := strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{json .NetworkSettings.Ports}}", "exp2")); out != `{"80/tcp":null}` {
		t.Errorf("inspect ports of an unpublished EXPOSE: %q", out)
	}
	d.MustCapsa("rm", "-f", "exp", "exp2")

	// A host range: the first free port of it (web holds the first).
	webServer(t, d, "web4", "-p", fmt.Sprintf("127.0.0.1:%d-%d:80", port, port+20))
	out = strings.TrimSpace(d.MustCapsa("port", "web4", "80/tcp"))
	_, hp, _ = strings.Cut(out, ":")
	if n, err := strconv.Atoi(hp); err != nil || n <= port || n > port+20 {
		t.Errorf("port web4 80/tcp: %q, want a port in %d-%d", out, port+1, port+20)
	} else if body := httpGet(t, "http://127.0.0.1:"+hp+"/"); body != "hello from web4\n" {
		t.Errorf("GET range port: %q", body)
	}

	// Bad port specs.
	for _, spec := range []string{"80/sctpx", "70000:80", "abc:80", "8000-8002:80-81"} {
		if r := d.Capsa("run", "--rm", "-p", spec, "busybox", "true"); r.Code != 125 {
			t.Errorf("-p %s: %v", spec, r)
		}
	}
	d.MustCapsa("rm", "-f", "web", "web3", "web4")
	if left := networkLeftovers(t, d, "bridge"); len(left) != 0 {
		t.Errorf("after rm: %v", left)
	}
}

// TestFeatureNetworkNames: on a user network containers find each other
// by name and alias (capsad's DNS responder); the default network has no
// names, as docker's; /etc/hosts, /etc/resolv.conf and /etc/hostname are
// the container's.
func TestFeatureNetworkNames(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("network", "create", "app")
	webServer(t, d, "web", "--network", "app", "--network-alias", "www")
	for _, host := range []string{"web", "www", "WEB"} {
		out := d.Capsa("run", "--rm", "--network", "app", "busybox", "wget", "-qO-", "http://"+host+"/")
		if out.Code != 0 || out.Stdout != "hello from web\n" {
			t.Errorf("wget http://%s/ on the user network: %v", host, out)
		}
	}
	// The default network does not resolve names.
	if r := d.Capsa("run", "--rm", "busybox", "nslookup", "web"); r.Code == 0 {
		t.Errorf("nslookup web on the default network succeeded: %v", r)
	}
	// The files.
	out := d.MustCapsa("run", "--rm", "--network", "app", "-h", "myhost", "--add-host", "db.example:10.1.2.3",
		"--dns-search", "example.com", "busybox", "sh", "-c", "cat /etc/hostname /etc/hosts /etc/resolv.conf; hostname")
	ip := ""
	for _, want := range []string{"myhost\n", "10.1.2.3\tdb.example\n", "search example.com\n", "nameserver "} {
		if !strings.Contains(out, want) {
			t.Errorf("files: %q lacks %q", out, want)
		}
	}
	gw := strings.TrimSpace(d.MustCapsa("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "app"))
	if !strings.Contains(out, "nameserver "+gw+"\n") {
		t.Errorf("resolv.conf on app: %q, want the gateway %s", out, gw)
	}
	if out := d.MustCapsa("run", "--rm", "--dns", "10.9.9.9", "busybox", "cat", "/etc/resolv.conf"); !strings.Contains(out, "nameserver 10.9.9.9") {
		t.Errorf("--dns: %q", out)
	}
	ip = strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "web"))
	if hosts := d.MustCapsa("exec", "web", "cat", "/etc/hosts"); !strings.Contains(hosts, ip+"\t") {
		t.Errorf("web's /etc/hosts lacks its address %s: %q", ip, hosts)
	}
	// container:<name> shares web's namespace.
	if out := d.MustCapsa("run", "--rm", "--network", "container:web", "busybox", "wget", "-qO-", "http://127.0.0.1/"); out != "hello from web" {
		t.Errorf("container:web: %q", out)
	}
	d.MustCapsa("rm", "-f", "web")
	if left := networkLeftovers(t, d, "app"); len(left) != 0 {
		t.Errorf("after rm: %v", left)
	}
	d.MustCapsa("network", "rm", "app")
}

// TestFeatureNetworkIsolation: containers on two networks cannot reach
// each other; an --internal network has no route out; connect and
// disconnect change that at run time.
func TestFeatureNetworkIsolation(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("network", "create", "n1")
	d.MustCapsa("network", "create", "n2")
	d.MustCapsa("network", "create", "--internal", "--subnet", "10.250.7.0/24", "priv")
	webServer(t, d, "ca", "--network", "n1")
	webServer(t, d, "cb", "--network", "n2")
	ipB := strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{.NetworkSettings.Networks.n2.IPAddress}}", "cb"))
	ipA := strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{.NetworkSettings.Networks.n1.IPAddress}}", "ca"))
	if ipA == "" || ipB == "" {
		t.Fatalf("addresses: a %q, b %q", ipA, ipB)
	}
	// Same network: reachable.
	if r := d.Capsa("run", "--rm", "--network", "n1", "busybox", "wget", "-qO-", "http://"+ipA+"/"); r.Code != 0 {
		t.Errorf("n1 → a: %v", r)
	}
	// Other network: not.
	// (ping: a command that gives up by itself; a container's PID 1 is
	// immune to timeout's signals.)
	if r := d.Capsa("run", "--rm", "--network", "n1", "busybox", "ping", "-c", "1", "-W", "2", ipB); r.Code == 0 {
		t.Errorf("n1 → b on n2 answered: %v", r)
	}
	// But a port cb publishes on every host address is for everyone,
	// containers of other networks too, through a host address (here
	// n1's gateway), as docker's.
	port := freePort(t)
	webServer(t, d, "pub", "--network", "n2", "-p", fmt.Sprintf("%d:80", port))
	gw1 := strings.TrimSpace(d.MustCapsa("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "n1"))
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if r := d.Capsa("run", "--rm", "--network", "n1", "busybox", "wget", "-qO-", fmt.Sprintf("http://%s:%d/", gw1, port)); r.Code != 0 || r.Stdout != "hello from pub\n" {
		t.Errorf("n1 → pub's published port through %s: %v", gw1, r)
	}
	d.MustCapsa("rm", "-f", "pub")
	// Internal: no default route, nothing beyond its subnet.
	out := d.Capsa("run", "--rm", "--network", "priv", "busybox", "sh", "-c", "ip route; ping -c 1 -W 2 "+ipA)
	if out.Code == 0 || strings.Contains(out.Stdout, "default") {
		t.Errorf("internal network: %v", out)
	}
	// connect puts a on n2 as well: now it reaches b by name.
	d.MustCapsa("network", "connect", "n2", "ca")
	if out := d.MustCapsa("exec", "ca", "wget", "-qO-", "http://cb/"); strings.TrimSpace(out) != "hello from cb" {
		t.Errorf("a → b after connect: %q", out)
	}
	ipA2 := strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{.NetworkSettings.Networks.n2.IPAddress}}", "ca"))
	if hosts := d.MustCapsa("exec", "ca", "cat", "/etc/hosts"); ipA2 == "" || !strings.Contains(hosts, ipA2+"\t") {
		t.Errorf("ca's /etc/hosts after connect lacks its n2 address %q: %q", ipA2, hosts)
	}
	d.MustCapsa("network", "disconnect", "n2", "ca")
	if hosts := d.MustCapsa("exec", "ca", "cat", "/etc/hosts"); strings.Contains(hosts, ipA2+"\t") {
		t.Errorf("ca's /etc/hosts after disconnect still has %s: %q", ipA2, hosts)
	}
	if r := d.Capsa("exec", "ca", "timeout", "3", "wget", "-qO-", "http://"+ipB+"/"); r.Code == 0 {
		t.Errorf("a → b after disconnect answered: %v", r)
	}
	// A network in use cannot go; bad input.
	if r := d.Capsa("network", "rm", "n1"); r.Code == 0 || !strings.Contains(r.Stderr, "active endpoints") {
		t.Errorf("network rm of a used network: %v", r)
	}
	if r := d.Capsa("network", "create", "--subnet", "10.250.7.128/25", "overlap"); r.Code == 0 || !strings.Contains(r.Stderr, "overlaps") {
		t.Errorf("overlapping subnet: %v", r)
	}
	if r := d.Capsa("network", "create", "n1"); r.Code == 0 || !strings.Contains(r.Stderr, "already exists") {
		t.Errorf("duplicate name: %v", r)
	}
	// An interface of the host is never taken for a network's bridge
	// (removing the network would delete it).
	if r := d.Capsa("network", "create", "-o", "com.docker.network.bridge.name=lo", "takelo"); r.Code == 0 || !strings.Contains(r.Stderr, "interface lo already exists") {
		t.Errorf("bridge named lo: %v", r)
	}
	if r := d.Capsa("run", "--rm", "--network", "nope", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "network nope not found") {
		t.Errorf("unknown network: %v", r)
	}
	if r := d.Capsa("network", "rm", "bridge"); r.Code == 0 || !strings.Contains(r.Stderr, "pre-defined") {
		t.Errorf("rm bridge: %v", r)
	}
	d.MustCapsa("rm", "-f", "ca", "cb")
	for _, n := range []string{"n1", "n2", "priv"} {
		if left := networkLeftovers(t, d, n); len(left) != 0 {
			t.Errorf("network %s after rm: %v", n, left)
		}
	}
	if out := strings.TrimSpace(d.MustCapsa("network", "prune", "-f")); !strings.Contains(out, "n1") || !strings.Contains(out, "priv") {
		t.Errorf("prune: %q", out)
	}
}

// TestFeatureNetworkHundred: 100 containers on one network get distinct
// addresses; once removed, no lease or veth is left.
func TestFeatureNetworkHundred(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("network", "create", "--subnet", "10.251.0.0/24", "many")
	const n = 100
	var (
		mu  sync.Mutex
		ips = map[string]string{}
		wg  sync.WaitGroup
		sem = make(chan struct{}, 4)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("c%d", i)
			if r := d.Capsa("run", "-d", "--name", name, "--network", "many", "busybox", "sleep", "600"); r.Code != 0 {
				t.Errorf("run %s: %v", name, r)
				return
			}
			ip := strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{.NetworkSettings.Networks.many.IPAddress}}", name))
			mu.Lock()
			defer mu.Unlock()
			if other, dup := ips[ip]; dup || ip == "" {
				t.Errorf("%s got address %q, as %s", name, ip, other)
			}
			ips[ip] = name
		}()
	}
	wg.Wait()
	if len(ips) != n {
		t.Errorf("%d distinct addresses, want %d", len(ips), n)
	}
	ids := strings.Fields(d.MustCapsa("ps", "-aq"))
	d.MustCapsa(append([]string{"rm", "-f"}, ids...)...)
	// The addresses are released when rm returns; the veths go with the
	// namespaces, in the kernel's time.
	id := strings.TrimSpace(d.MustCapsa("network", "inspect", "-f", "{{.Id}}", "many"))
	if leases, _ := filepath.Glob(filepath.Join(d.ExecRoot, "net", "ipam", "capsa-"+id[:12], "*.*.*.*")); len(leases) != 0 {
		t.Errorf("after rm of %d: %d leases left: %v", n, len(leases), leases)
	}
	if left := networkLeftovers(t, d, "many"); len(left) != 0 {
		t.Errorf("after rm of %d: %d left: %v", n, len(left), left)
	}
}

// TestFeatureNetworkKill9: capsad killed with networked containers
// running: after its restart the published port still answers, names
// still resolve, and the containers stop and go cleanly.
func TestFeatureNetworkKill9(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("network", "create", "app")
	port := freePort(t)
	webServer(t, d, "web", "--network", "app", "-p", fmt.Sprintf("127.0.0.1:%d:80", port))
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	d.Kill9()
	// While capsad is down, the port keeps answering (the kernel's rules).
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "hello from web\n" {
		t.Errorf("GET while capsad is down: %q", body)
	}
	d.Restart()
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "hello from web\n" {
		t.Errorf("GET after restart: %q", body)
	}
	if out := d.MustCapsa("run", "--rm", "--network", "app", "busybox", "wget", "-qO-", "http://web/"); strings.TrimSpace(out) != "hello from web" {
		t.Errorf("name after restart: %q", out)
	}
	// The port is held again: another container cannot take it.
	if r := d.Capsa("run", "--rm", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox", "true"); r.Code == 0 {
		t.Errorf("port %d taken twice after restart: %v", port, r)
	}
	d.MustCapsa("stop", "-t", "1", "web")
	d.MustCapsa("rm", "web")
	if left := networkLeftovers(t, d, "app"); len(left) != 0 {
		t.Errorf("after rm: %v", left)
	}
}

// TestFeatureNetworkOrphans: what a container's network leaves when the
// container dies while capsad is down (its veth, lease, port rules and
// namespace), and a lease of a container capsad never knew, are gone once
// capsad is back.
func TestFeatureNetworkOrphans(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("network", "create", "app")
	port := freePort(t)
	webServer(t, d, "web", "--network", "app", "-p", fmt.Sprintf("127.0.0.1:%d:80", port))
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	pid := inspectPid(t, d, "web")
	id := strings.TrimSpace(d.MustCapsa("network", "inspect", "-f", "{{.Id}}", "app"))
	d.Kill9()
	// The container dies with capsad away; its shim records the exit.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// And a lease of a container that never was.
	stray := filepath.Join(d.ExecRoot, "net", "ipam", "capsa-"+id[:12], "10.255.255.254")
	if err := os.WriteFile(stray, []byte(strings.Repeat("f", 64)+"\neth0"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Restart()
	if st := strings.TrimSpace(d.MustCapsa("inspect", "-f", "{{.State.Status}}", "web")); st != "exited" {
		t.Errorf("web after restart: %s", st)
	}
	if left := networkLeftovers(t, d, "app"); len(left) != 0 {
		t.Errorf("after restart: %v", left)
	}
	if nat, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(nat), fmt.Sprintf("--dport %d ", port)) {
		t.Errorf("port %d's rules are left", port)
	}
	// Its port is free again.
	webServer(t, d, "web2", "--network", "app", "-p", fmt.Sprintf("127.0.0.1:%d:80", port))
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "hello from web2\n" {
		t.Errorf("GET web2: %q", body)
	}
	d.MustCapsa("rm", "-f", "web", "web2")
}

// TestFeatureNetworkOptions: --ip takes the address asked for (and one in
// use or outside the subnet is refused), labels filter network ls, a bind
// mount of a source that does not exist is refused, and none of the
// refusals leaves a container, lease or veth behind.
func TestFeatureNetworkOptions(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("network", "create", "--subnet", "10.252.3.0/24", "--gateway", "10.252.3.254", "--label", "tier=back", "fixed")
	if out := strings.TrimSpace(d.MustCapsa("network", "ls", "--filter", "label=tier=back", "--format", "{{.Name}}")); out != "fixed" {
		t.Errorf("network ls by label: %q", out)
	}
	d.MustCapsa("run", "-d", "--name", "pinned", "--network", "fixed", "--ip", "10.252.3.77", "busybox", "sleep", "600")
	out := d.MustCapsa("exec", "pinned", "ip", "-4", "-o", "addr", "show", "eth0")
	if !strings.Contains(out, "10.252.3.77/24") {
		t.Errorf("--ip: eth0 is %q", out)
	}
	if route := d.MustCapsa("exec", "pinned", "ip", "route"); !strings.Contains(route, "default via 10.252.3.254") {
		t.Errorf("--gateway: routes %q", route)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "fixed", "--ip", "10.252.3.77"}, "10.252.3.77"},
		{[]string{"--network", "fixed", "--ip", "10.9.9.9"}, "10.9.9.9"},
		{[]string{"--ip", "10.77.0.9"}, "user specified IP address is supported on user defined networks only"},
		{[]string{"--mount", "type=bind,source=/nonexistent/capsa,target=/x"}, "/nonexistent/capsa"},
		// Words of the /etc files stay one word: no line of the caller's.
		{[]string{"--dns-search", "evil.example\nnameserver 10.6.6.6"}, "invalid DNS search domain"},
		{[]string{"--dns-option", "ndots:1 attempts:9"}, "invalid DNS option"},
	} {
		args := append(append([]string{"run", "--rm"}, c.args...), "busybox", "true")
		if r := d.Capsa(args...); r.Code != 125 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("capsa %s: %v, want exit 125 naming %q", strings.Join(args, " "), r, c.want)
		}
	}
	if ids := strings.Fields(d.MustCapsa("ps", "-aq")); len(ids) != 1 {
		t.Errorf("containers after the refusals: %v, want only pinned", ids)
	}
	d.MustCapsa("rm", "-f", "pinned")
	if left := networkLeftovers(t, d, "fixed"); len(left) != 0 {
		t.Errorf("after rm: %v", left)
	}
	// system prune takes the unused networks too, as docker's.
	if out := d.MustCapsa("system", "prune", "-f"); !strings.Contains(out, "Deleted Networks:\nfixed\n") {
		t.Errorf("system prune: %q", out)
	}
}
