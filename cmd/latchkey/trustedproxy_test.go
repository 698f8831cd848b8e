package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/client"
)

// TestTrustedProxies: with --trusted-proxies naming the address requests
// come from, the audit trail records the client X-Forwarded-For names; a
// request without the header is its peer's.
func TestTrustedProxies(t *testing.T) {
	_, info := startDevIn(t, filepath.Join(t.TempDir(), "data"), "--trusted-proxies", "127.0.0.1/32")
	hc := httpsClient(t, info.CACert)
	tokenURL := client.TokenURL(info.AuthorityHost, info.TenantID)
	refused := func(forwardedFor string) {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {info.Admin.ClientID}, "client_secret": {"not-the-secret"},
			"scope": {client.ManagementAudience + "/.default"}}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a token for a wrong secret: %d", resp.StatusCode)
		}
	}
	refused("198.51.100.66, 203.0.113.9") // the client wrote the first entry; the proxy the second
	refused("")
	admin := client.New(info.URL, hc, &client.ClientCredentials{TokenURL: tokenURL, ClientID: info.Admin.ClientID, Secret: info.Admin.ClientSecret, HTTPClient: hc})
	var addrs []string
	waitFor(t, "both refusals in the audit trail", func() bool {
		evs, _, err := admin.AuditEvents(t.Context(), client.AuditFilter{Operation: "Latchkey.Identity/token/action", Result: "denied", Scope: "/"}, client.AuditPage{})
		if err != nil {
			t.Fatal(err)
		}
		addrs = addrs[:0]
		for _, e := range evs {
			addrs = append(addrs, e.ClientIP)
		}
		return len(addrs) >= 2
	})
	if !slices.Equal(addrs, []string{"203.0.113.9", "127.0.0.1"}) {
		t.Errorf("the refusals' client addresses = %q, want the forwarded client, then the peer", addrs)
	}
}
