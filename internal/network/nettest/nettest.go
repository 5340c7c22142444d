// Package nettest gives each test's engine networks of its own, beside
// the other tests' engines running at the same time and the host's own
// capsad, and checks that a test's networks leave nothing on the host.
package nettest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/network"
)

// Pool is where the tests' user networks get their subnets: the engine
// skips those the host routes already (another test's bridges).
var Pool = network.AddressPool{Base: netip.MustParsePrefix("10.192.0.0/12"), Size: 24}

// Defaults returns a bridge name and a /24 subnet for a test's default
// network that no route of the host covers now.
func Defaults(t testing.TB) (string, netip.Prefix) {
	t.Helper()
	out, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	var routes []netip.Prefix
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" {
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if p, err := netip.ParsePrefix(dst); err == nil {
			routes = append(routes, p)
		}
	}
	for range 100 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		// 10.160.0.0/11: 8192 /24s, away from Pool and the defaults.
		v := binary.BigEndian.Uint32(b[:])
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 160 + byte(v>>8)%32, byte(v), 0}), 24)
		free := true
		for _, r := range routes {
			if r.Bits() > 0 && r.Overlaps(pfx) {
				free = false
				break
			}
		}
		if free {
			return "ct" + hex.EncodeToString(b[:3]), pfx
		}
	}
	t.Fatal("nettest: no free /24 under 10.160.0.0/11")
	return "", netip.Prefix{}
}

// Cleanup checks, once the engine has stopped with no container left,
// that nothing of its networks' per-container state remains (address
// leases, CNI port and masquerade rules), reports what does as test
// errors, and then removes the networks' host state (bridges, capsa's
// rules), which a real engine keeps across restarts.
func Cleanup(t testing.TB, dataDir, runDir string) {
	t.Helper()
	leases, _ := filepath.Glob(filepath.Join(runDir, "ipam", "*", "*.*.*.*"))
	for _, l := range leases {
		t.Errorf("cleanup: address lease left: %s", l)
	}
	if names := cniNames(dataDir); len(names) > 0 {
		out, _ := exec.Command("iptables-save", "-t", "nat").Output()
		for _, line := range strings.Split(string(out), "\n") {
			for _, n := range names {
				if strings.Contains(line, n) {
					t.Errorf("cleanup: nat rule left: %s", line)
				}
			}
		}
	}
	if err := network.RemoveHostState(dataDir); err != nil {
		t.Errorf("cleanup: networks' host state: %v", err)
	}
	for _, b := range network.Bridges(dataDir) {
		for _, r := range network.TaggedRules(b) {
			t.Errorf("cleanup: filter rule left: %s", r)
		}
		if out, err := exec.Command("ip", "link", "show", b).CombinedOutput(); err == nil {
			t.Errorf("cleanup: bridge left: %s", out)
		}
	}
}

// cniNames are the CNI network names ("capsa-<id12>") of the networks
// recorded under dataDir.
func cniNames(dataDir string) []string {
	ents, _ := os.ReadDir(dataDir)
	var out []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && len(id) >= 12 {
			out = append(out, fmt.Sprintf("capsa-%s", id[:12]))
		}
	}
	return out
}
