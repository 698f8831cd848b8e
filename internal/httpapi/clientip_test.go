package httpapi

import (
	"net/netip"
	"strings"
	"testing"
)

// TestClientAddress: the client is the TCP peer unless the peer is a
// trusted proxy; then it is the rightmost X-Forwarded-For entry that is not
// a trusted proxy, and what the client itself wrote further left counts for
// nothing.
func TestClientAddress(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	two := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.0/24")}
	cases := []struct {
		name      string
		peer      string
		forwarded []string
		trusted   []netip.Prefix
		want      string
	}{
		{"no trusted proxies: the header is ignored", "10.1.2.3:5000", []string{"203.0.113.7"}, nil, "10.1.2.3"},
		{"an untrusted peer: the header is ignored", "198.51.100.4:5000", []string{"203.0.113.7"}, lb, "198.51.100.4"},
		{"a trusted peer without the header", "10.1.2.3:5000", nil, lb, "10.1.2.3"},
		{"a trusted peer names its client", "10.1.2.3:5000", []string{"203.0.113.7"}, lb, "203.0.113.7"},
		{"a spoofed entry left of the real one", "10.1.2.3:5000", []string{"1.2.3.4, 203.0.113.7"}, lb, "203.0.113.7"},
		{"two trusted hops", "10.1.2.3:5000", []string{"203.0.113.7, 192.168.1.9"}, two, "203.0.113.7"},
		{"hops over several header lines", "10.1.2.3:5000", []string{"203.0.113.7", "192.168.1.9"}, two, "203.0.113.7"},
		{"only trusted hops: the leftmost", "10.1.2.3:5000", []string{"10.9.9.9, 10.8.8.8"}, lb, "10.9.9.9"},
		{"not an address: the trusted hop that forwarded it", "10.1.2.3:5000", []string{"203.0.113.7, unknown"}, lb, "10.1.2.3"},
		{"an address with a port is not one", "10.1.2.3:5000", []string{"203.0.113.7:443"}, lb, "10.1.2.3"},
		{"a zone is refused", "10.1.2.3:5000", []string{"fe80::1%eth0"}, lb, "10.1.2.3"},
		{"IPv6", "[2001:db8::1]:5000", []string{"2001:db8:ffff::7"}, []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}, "2001:db8:ffff::7"},
		{"an IPv4-mapped peer", "[::ffff:10.1.2.3]:5000", []string{"203.0.113.7"}, lb, "203.0.113.7"},
		{"spaces around entries", "10.1.2.3:5000", []string{"  203.0.113.7 ,  10.4.4.4  "}, lb, "203.0.113.7"},
		{"too many trusted hops: stop at the last read", "10.1.2.3:5000",
			[]string{"203.0.113.7, " + strings.Repeat("10.0.0.1, ", maxForwardedHops) + "10.0.0.2"}, lb, "10.0.0.1"},
		{"a peer address without a port", "10.1.2.3", []string{"203.0.113.7"}, lb, "203.0.113.7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := clientAddress(c.peer, c.forwarded, c.trusted); got != c.want {
				t.Errorf("clientAddress(%q, %q) = %q, want %q", c.peer, c.forwarded, got, c.want)
			}
		})
	}
}

// FuzzClientAddress: whatever the header holds, the answer is the peer or
// an address the header names, and a peer that is not trusted is never
// overridden.
func FuzzClientAddress(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "1.2.3.4, 10.0.0.1", "", ",,,", "::1, fe80::1%eth0", "[::1]:80", strings.Repeat("10.0.0.1,", 40)} {
		f.Add("10.1.2.3:5000", s)
		f.Add("198.51.100.4:5000", s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, peer, header string) {
		got := clientAddress(peer, []string{header}, trusted)
		host := clientAddress(peer, nil, trusted)
		if got == host {
			return
		}
		p, err := netip.ParseAddr(host)
		if err != nil || !inPrefixes(p.Unmap(), trusted) {
			t.Fatalf("peer %q is not trusted, yet the client is %q from %q", peer, got, header)
		}
		a, err := netip.ParseAddr(got)
		if err != nil || !strings.Contains(header, strings.TrimPrefix(a.String(), "::ffff:")) && !headerNames(header, a) {
			t.Fatalf("client %q is neither the peer %q nor an address in %q", got, host, header)
		}
	})
}

// headerNames reports whether one of header's entries is the address a.
func headerNames(header string, a netip.Addr) bool {
	for _, e := range strings.Split(header, ",") {
		if b, err := netip.ParseAddr(strings.TrimSpace(e)); err == nil && b.Unmap() == a {
			return true
		}
	}
	return false
}
