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
//	CAPSA-ISOLATION-STAGE-1 -i B ! -o B -j CAPSA-ISOLATION-STAGE-2
//	CAPSA-ISOLATION-STAGE-2 -o B -j DROP
//	CAPSA-ISOLATION-STAGE-1 -i B ! -o B -j DROP    (--internal: nothing out...)
//	CAPSA-ISOLATION-STAGE-1 -o B ! -i B -j DROP    (... and nothing in)
//
// So traffic between two bridge networks is dropped (docker's two
// stages: leaving B for any other bridge), and the accepts keep bridge
// networks working on hosts whose FORWARD policy is DROP. Every rule
// carries the comment "capsa:B", which is how leftovers are found. The
// chains are shared by every capsad on the host; each adds and removes
// only its own networks' rules.
const (
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
	chain string
	spec  []string
}

func networkRules(n Network) []rule {
	b, c := n.Bridge, comment(n.Bridge)
	with := func(s ...string) []string { return append(s, c...) }
	rs := []rule{
		{chainForward, with("-o", b, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")},
		{chainForward, with("-o", b, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT")},
	}
	if n.Internal {
		return append(rs,
			rule{chainStage1, with("-i", b, "!", "-o", b, "-j", "DROP")},
			rule{chainStage1, with("-o", b, "!", "-i", b, "-j", "DROP")},
			rule{chainStage2, with("-o", b, "-j", "DROP")},
		)
	}
	return append(rs,
		rule{chainForward, with("-i", b, "-j", "ACCEPT")},
		rule{chainStage1, with("-i", b, "!", "-o", b, "-j", chainStage2)},
		rule{chainStage2, with("-o", b, "-j", "DROP")},
	)
}

// ensureChains makes the chains and their jumps, each jump first in its
// chain (another program's rules inserted later may come before it: it
// is moved back to the top).
func (f *firewall) ensureChains() error {
	for _, ch := range []string{chainForward, chainStage1, chainStage2} {
		ok, err := f.ipt.ChainExists("filter", ch)
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
		if !ok {
			if err := f.ipt.NewChain("filter", ch); err != nil && !strings.Contains(err.Error(), "exists") {
				return fmt.Errorf("iptables: new chain %s: %w", ch, err)
			}
		}
	}
	if err := f.jumpFirst("FORWARD", chainForward); err != nil {
		return err
	}
	return f.jumpFirst(chainForward, chainStage1)
}

func (f *firewall) jumpFirst(chain, target string) error {
	// (go-iptables' ListById panics on an empty chain: List it is.)
	rules, err := f.ipt.List("filter", chain)
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
	if err := f.ipt.DeleteIfExists("filter", chain, "-j", target); err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	if err := f.ipt.Insert("filter", chain, 1, "-j", target); err != nil {
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
		if err := f.ipt.AppendUnique("filter", r.chain, r.spec...); err != nil {
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
	for _, ch := range []string{chainForward, chainStage1, chainStage2} {
		rules, err := ipt.List("filter", ch)
		if err != nil {
			continue // no such chain: nothing of ours
		}
		for _, r := range rules {
			if !isTagged(r, bridge) {
				continue
			}
			spec := strings.Fields(strings.TrimPrefix(r, "-A "+ch+" "))
			if err := ipt.Delete("filter", ch, unquote(spec)...); err != nil {
				return fmt.Errorf("iptables: delete %q: %w", r, err)
			}
		}
	}
	return nil
}

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

// TaggedRules lists the filter rules that name bridge (for tests: none
// may be left after its network is removed).
func TaggedRules(bridge string) []string {
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return nil
	}
	var out []string
	for _, ch := range []string{chainForward, chainStage1, chainStage2} {
		rules, _ := ipt.List("filter", ch)
		for _, r := range rules {
			if isTagged(r, bridge) {
				out = append(out, r)
			}
		}
	}
	return out
}
