package network

import (
	"fmt"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"
)

// capsa's filter rules for bridge networks, per network, not per
// container (no firewall plugin run per start):
//
//	FORWARD -j CAPSA-FORWARD                       (first rule)
//	CAPSA-FORWARD -j CAPSA-ISOLATION-STAGE-1       (first rule)
//	CAPSA-FORWARD -o B -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
//	CAPSA-FORWARD -o B -m conntrack --ctstate DNAT -j ACCEPT   (published ports)
//	CAPSA-FORWARD -i B -j ACCEPT                   (not --internal)
//	CAPSA-ISOLATION-STAGE-1 -m conntrack --ctstate DNAT -j RETURN (first: published ports)
//	CAPSA-ISOLATION-STAGE-1 -i B ! -o B -j CAPSA-ISOLATION-STAGE-2
//	CAPSA-ISOLATION-STAGE-2 -o B -j DROP
//	CAPSA-ISOLATION-STAGE-1 -i B ! -o B -j DROP    (--internal: nothing out...)
//	CAPSA-ISOLATION-STAGE-1 -o B ! -i B -j DROP    (... and nothing in)
//	nat: POSTROUTING -j CAPSA-POSTROUTING
//	nat: CAPSA-POSTROUTING -s SUBNET ! -o B -j MASQUERADE  (not --internal)
//
// So traffic between two bridge networks is dropped (docker's two
// stages: leaving B for any other bridge), and the accepts keep bridge
// networks working on hosts whose FORWARD policy is DROP. Every rule
// carries the comment "capsa:B", which is how leftovers are found. The
// chains are shared by every capsad on the host; each adds and removes
// only its own networks' rules.
const (
	chainPost    = "CAPSA-POSTROUTING" // in the nat table
	chainForward = "CAPSA-FORWARD"
	chainStage1  = "CAPSA-ISOLATION-STAGE-1"
	chainStage2  = "CAPSA-ISOLATION-STAGE-2"
)

type firewall struct {
	mu  sync.Mutex
	ipt *iptables.IPTables
}

func newFirewall() (*firewall, error) {
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	return &firewall{ipt: ipt}, nil
}

func comment(bridge string) []string {
	return []string{"-m", "comment", "--comment", "capsa:" + bridge}
}

type rule struct {
	table, chain string
	spec         []string
}

func networkRules(n Network) []rule {
	b, c := n.Bridge, comment(n.Bridge)
	with := func(s ...string) []string { return append(s, c...) }
	rs := []rule{
		{"filter", chainForward, with("-o", b, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")},
		{"filter", chainForward, with("-o", b, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT")},
	}
	if n.Internal {
		return append(rs,
			rule{"filter", chainStage1, with("-i", b, "!", "-o", b, "-j", "DROP")},
			rule{"filter", chainStage1, with("-o", b, "!", "-i", b, "-j", "DROP")},
			rule{"filter", chainStage2, with("-o", b, "-j", "DROP")},
		)
	}
	return append(rs,
		rule{"nat", chainPost, with("-s", n.Subnet.String(), "!", "-o", b, "-j", "MASQUERADE")},
		rule{"filter", chainForward, with("-i", b, "-j", "ACCEPT")},
		rule{"filter", chainStage1, with("-i", b, "!", "-o", b, "-j", chainStage2)},
		rule{"filter", chainStage2, with("-o", b, "-j", "DROP")},
	)
}

// ensureChains makes the chains and their jumps, each jump first in its
// chain (another program's rules inserted later may come before it: it
// is moved back to the top).
func (f *firewall) ensureChains() error {
	for _, tc := range [][2]string{{"filter", chainForward}, {"filter", chainStage1}, {"filter", chainStage2}, {"nat", chainPost}} {
		ok, err := f.ipt.ChainExists(tc[0], tc[1])
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
		if !ok {
			if err := f.ipt.NewChain(tc[0], tc[1]); err != nil && !strings.Contains(err.Error(), "exists") {
				return fmt.Errorf("iptables: new chain %s: %w", tc[1], err)
			}
		}
	}
	if err := f.jumpFirst("filter", "FORWARD", chainForward); err != nil {
		return err
	}
	if err := f.jumpFirst("nat", "POSTROUTING", chainPost); err != nil {
		return err
	}
	if err := f.jumpFirst("filter", chainForward, chainStage1); err != nil {
		return err
	}
	// A published port is for everyone, containers of other networks
	// too (through a host address, as docker's): what portmap's DNAT
	// sent, and its replies, pass the isolation.
	if err := f.ipt.InsertUnique("filter", chainStage1, 1, publishedPass...); err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	return nil
}

// publishedPass lets DNAT'ed connections (published ports) through the
// isolation between networks; shared by every network, it stays.
var publishedPass = []string{"-m", "conntrack", "--ctstate", "DNAT", "-m", "comment", "--comment", "capsa: published ports", "-j", "RETURN"}

func (f *firewall) jumpFirst(table, chain, target string) error {
	// (go-iptables' ListById panics on an empty chain: List it is.)
	rules, err := f.ipt.List(table, chain)
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	for _, r := range rules {
		if strings.HasPrefix(r, "-A ") {
			if r == "-A "+chain+" -j "+target {
				return nil
			}
			break
		}
	}
	if err := f.ipt.DeleteIfExists(table, chain, "-j", target); err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	if err := f.ipt.Insert(table, chain, 1, "-j", target); err != nil {
		return fmt.Errorf("iptables: jump from %s to %s: %w", chain, target, err)
	}
	return nil
}

// add puts n's rules in place (idempotent).
func (f *firewall) add(n Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.ensureChains(); err != nil {
		return err
	}
	for _, r := range networkRules(n) {
		if err := f.ipt.AppendUnique(r.table, r.chain, r.spec...); err != nil {
			return fmt.Errorf("iptables: network %s: %w", n.Name, err)
		}
	}
	return nil
}

// remove takes every rule of bridge out (by its comment).
func (f *firewall) remove(bridge string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return removeTagged(f.ipt, bridge)
}

func removeTagged(ipt *iptables.IPTables, bridge string) error {
	for _, tc := range ourChains {
		rules, err := ipt.List(tc[0], tc[1])
		if err != nil {
			continue // no such chain: nothing of ours
		}
		for _, r := range rules {
			if !isTagged(r, bridge) {
				continue
			}
			spec := strings.Fields(strings.TrimPrefix(r, "-A "+tc[1]+" "))
			if err := ipt.Delete(tc[0], tc[1], unquote(spec)...); err != nil {
				return fmt.Errorf("iptables: delete %q: %w", r, err)
			}
		}
	}
	return nil
}

// ourChains are capsa's chains, by table.
var ourChains = [][2]string{{"filter", chainForward}, {"filter", chainStage1}, {"filter", chainStage2}, {"nat", chainPost}}

// isTagged: rule r (as iptables -S prints it, the comment quoted) carries
// bridge's tag.
func isTagged(r, bridge string) bool {
	return strings.Contains(r, `--comment "capsa:`+bridge+`"`) || strings.Contains(r, `--comment capsa:`+bridge+` `)
}

// unquote removes the quotes iptables -S puts around comments.
func unquote(spec []string) []string {
	out := make([]string, len(spec))
	for i, s := range spec {
		out[i] = strings.Trim(s, `"`)
	}
	return out
}

// TaggedRules lists the rules that name bridge (for tests: none
// may be left after its network is removed).
func TaggedRules(bridge string) []string {
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return nil
	}
	var out []string
	for _, tc := range ourChains {
		rules, _ := ipt.List(tc[0], tc[1])
		for _, r := range rules {
			if isTagged(r, bridge) {
				out = append(out, r)
			}
		}
	}
	return out
}
