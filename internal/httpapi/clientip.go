package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries clientIP reads:
// no real chain of proxies is longer, and a longer header is not walked.
const maxForwardedHops = 16

// clientIP returns the address of the request's client, as text: the TCP
// peer's, unless the peer is one of the trusted proxies. Then it is the
// nearest address in X-Forwarded-For, read from the right (the entry the
// trusted peer appended last), that is not itself a trusted proxy: entries
// further left were written by whoever sent the request and prove nothing.
// An entry that is not an address stops the walk at the trusted hop that
// forwarded it. Every use of the client's address goes through here: the
// vaults' allow-lists, token throttling, key uses and the audit trail.
func (s *Server) clientIP(r *http.Request) string {
	return clientAddress(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.trustedProxies)
}

// clientAddress is clientIP's work on the peer's address (host:port, as in
// http.Request.RemoteAddr), the X-Forwarded-For header lines, and the
// trusted ranges.
func clientAddress(remoteAddr string, forwarded []string, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	if len(trusted) == 0 || len(forwarded) == 0 {
		return host
	}
	hop, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(hop.Unmap(), trusted) {
		return host
	}
	seen := 0
	for i := len(forwarded) - 1; i >= 0; i-- {
		entries := strings.Split(forwarded[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			if seen++; seen > maxForwardedHops {
				return hop.String()
			}
			a, err := netip.ParseAddr(strings.TrimSpace(entries[j]))
			if err != nil || a.Zone() != "" {
				return hop.String()
			}
			hop = a.Unmap()
			if !inPrefixes(hop, trusted) {
				return hop.String()
			}
		}
	}
	return hop.String()
}

// inPrefixes reports whether a lies in one of ps.
func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
