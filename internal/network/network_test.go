package network

import (
	"net/netip"
	"testing"
)

func TestParseSubnet(t *testing.T) {
	for _, c := range []struct {
		subnet, gateway string
		wantGW          string // "": an error
	}{
		{"10.90.0.0/24", "", "10.90.0.1"},
		{"10.90.0.0/24", "10.90.0.254", "10.90.0.254"},
		{"10.90.0.0/30", "", "10.90.0.1"},
		{"10.90.0.5/24", "", ""},            // host bits
		{"10.90.0.0/31", "", ""},            // no room
		{"fd00::/64", "", ""},               // IPv6
		{"nonsense", "", ""},                // not a CIDR
		{"10.90.0.0/24", "10.91.0.1", ""},   // gateway outside
		{"10.90.0.0/24", "10.90.0.255", ""}, // broadcast
		{"10.90.0.0/24", "10.90.0.0", ""},   // network address
	} {
		_, gw, err := parseSubnet(c.subnet, c.gateway)
		if c.wantGW == "" {
			if err == nil {
				t.Errorf("parseSubnet(%q, %q): no error, want one", c.subnet, c.gateway)
			}
			continue
		}
		if err != nil || gw.String() != c.wantGW {
			t.Errorf("parseSubnet(%q, %q) = %v, %v; want %s", c.subnet, c.gateway, gw, err, c.wantGW)
		}
	}
}

func TestAllocateSkipsTaken(t *testing.T) {
	pool := AddressPool{Base: netip.MustParsePrefix("10.250.0.0/22"), Size: 24}
	taken := []netip.Prefix{netip.MustParsePrefix("10.250.0.0/24"), netip.MustParsePrefix("10.250.1.128/25")}
	got, err := allocate(pool, taken)
	if err != nil || got.String() != "10.250.2.0/24" {
		t.Fatalf("allocate: %v, %v; want 10.250.2.0/24", got, err)
	}
	full := []netip.Prefix{netip.MustParsePrefix("10.250.0.0/22")}
	if got, err := allocate(pool, full); err == nil {
		t.Fatalf("allocate from a full pool: %v, want an error", got)
	}
}

func TestResolvConf(t *testing.T) {
	rc := ParseResolvConf([]byte("# comment\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch a.example b.example\noptions ndots:2 edns0\ngarbage\n"))
	got := string(rc.WithoutLoopback().Bytes())
	want := "search a.example b.example\nnameserver 10.1.1.1\noptions ndots:2 edns0\n"
	if got != want {
		t.Errorf("resolv.conf:\ngot  %q\nwant %q", got, want)
	}
}

func TestHostsFile(t *testing.T) {
	got := string(HostsFile([]byte("10.0.0.1\thost\n"), []HostsEntry{{IP: "10.1.2.3", Names: []string{"db", "db.example"}}}))
	if want := "10.0.0.1\thost\n10.1.2.3\tdb db.example\n"; got != want {
		t.Errorf("HostsFile with a base: %q, want %q", got, want)
	}
	if got := string(HostsFile(nil, nil)); got[:19] != "127.0.0.1\tlocalhost" {
		t.Errorf("HostsFile's default start: %q", got)
	}
}
