package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The vault client is driven against the real data plane in cmd/latchkey's
// tests; these cover the wire details and answers the real server never gives.

// vaultRequest is what the stand-in vault saw of one request.
type vaultRequest struct {
	Method, Path, Query, Body, Auth string
}

// vaultStandIn serves answer behind TLS, records requests, and returns its URL.
func vaultStandIn(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, func() []vaultRequest) {
	t.Helper()
	var mu sync.Mutex // guards seen
	var seen []vaultRequest
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, vaultRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Get("Authorization")})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		answer(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, func() []vaultRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]vaultRequest(nil), seen...)
	}
}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }

func TestVaultClientRequests(t *testing.T) {
	ts, seen := vaultStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/deletedsecrets/"):
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/backup"):
			fmt.Fprint(w, `{"value":"AQID"}`)
		case r.URL.Path == "/secrets" || r.URL.Path == "/deletedsecrets" || strings.HasSuffix(r.URL.Path, "/versions"):
			fmt.Fprint(w, `{"value":[],"nextLink":null}`)
		default:
			fmt.Fprint(w, `{"id":"https://v.vault.example/secrets/a/0123","value":"x"}`)
		}
	})
	vc := NewVaultClient(ts.URL+"/", ts.Client(), staticToken("tok"))
	off := false
	ct := "text/plain"
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want vaultRequest
	}{
		{"SetSecret", func(ctx context.Context) error {
			_, err := vc.SetSecret(ctx, "db pass", SecretSetParameters{Value: "v", Tags: map[string]string{"k": "x"}, Attributes: &SecretAttributes{Enabled: &off, Expires: Unix(exp)}})
			return err
		}, vaultRequest{"PUT", "/secrets/db%20pass", "", `{"value":"v","tags":{"k":"x"},"attributes":{"enabled":false,"exp":1893553445}}`, ""}},
		{"GetSecret current", func(ctx context.Context) error { _, err := vc.GetSecret(ctx, "a", ""); return err },
			vaultRequest{"GET", "/secrets/a", "", "", ""}},
		{"GetSecret version", func(ctx context.Context) error { _, err := vc.GetSecret(ctx, "a", "0123"); return err },
			vaultRequest{"GET", "/secrets/a/0123", "", "", ""}},
		{"UpdateSecret", func(ctx context.Context) error {
			_, err := vc.UpdateSecret(ctx, "a", "", SecretUpdateParameters{ContentType: &ct})
			return err
		}, vaultRequest{"PATCH", "/secrets/a", "", `{"contentType":"text/plain"}`, ""}},
		{"ListSecrets", func(ctx context.Context) error { _, err := vc.ListSecrets(ctx); return err },
			vaultRequest{"GET", "/secrets", "", "", ""}},
		{"ListVersions", func(ctx context.Context) error { _, err := vc.ListVersions(ctx, "a"); return err },
			vaultRequest{"GET", "/secrets/a/versions", "", "", ""}},
		{"DeleteSecret", func(ctx context.Context) error { _, err := vc.DeleteSecret(ctx, "a"); return err },
			vaultRequest{"DELETE", "/secrets/a", "", "", ""}},
		{"GetDeletedSecret", func(ctx context.Context) error { _, err := vc.GetDeletedSecret(ctx, "a"); return err },
			vaultRequest{"GET", "/deletedsecrets/a", "", "", ""}},
		{"ListDeletedSecrets", func(ctx context.Context) error { _, err := vc.ListDeletedSecrets(ctx); return err },
			vaultRequest{"GET", "/deletedsecrets", "", "", ""}},
		{"RecoverSecret", func(ctx context.Context) error { _, err := vc.RecoverSecret(ctx, "a"); return err },
			vaultRequest{"POST", "/deletedsecrets/a/recover", "", "", ""}},
		{"PurgeSecret", func(ctx context.Context) error { return vc.PurgeSecret(ctx, "a") },
			vaultRequest{"DELETE", "/deletedsecrets/a", "", "", ""}},
		{"BackupSecret", func(ctx context.Context) error {
			blob, err := vc.BackupSecret(ctx, "a")
			if string(blob) != "\x01\x02\x03" {
				return fmt.Errorf("blob %q, want 01 02 03", blob)
			}
			return err
		}, vaultRequest{"POST", "/secrets/a/backup", "", "", ""}},
		{"RestoreSecret", func(ctx context.Context) error { _, err := vc.RestoreSecret(ctx, []byte{1, 2, 3}); return err },
			vaultRequest{"POST", "/secrets/restore", "", `{"value":"AQID"}`, ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(seen())
			if err := tc.call(t.Context()); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got := seen()[before:]
			tc.want.Query, tc.want.Auth = "api-version="+VaultAPIVersion, "Bearer tok"
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s sent %+v, want %+v", tc.name, got, tc.want)
			}
		})
	}
}

func TestVaultClientFollowsNextLinks(t *testing.T) {
	var base string
	ts, seen := vaultStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			fmt.Fprintf(w, `{"value":[{"id":"%s/secrets/a"}],"nextLink":"%s/secrets?api-version=7.5&maxresults=1&$skiptoken=p2"}`, base, base)
		case "p2": // a nextLink without the api-version gets it added
			fmt.Fprintf(w, `{"value":[{"id":"%s/secrets/b"}],"nextLink":"%s/secrets?$skiptoken=p3"}`, base, base)
		default:
			fmt.Fprintf(w, `{"value":[{"id":"%s/secrets/c"}],"nextLink":null}`, base)
		}
	})
	base = ts.URL
	got, err := NewVaultClient(ts.URL, ts.Client(), nil).ListSecrets(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range got {
		names = append(names, b.Name())
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("ListSecrets = %v, want a,b,c from three pages", names)
	}
	for _, r := range seen() {
		if !strings.Contains(r.Query, "api-version=") {
			t.Errorf("page request %s?%s lacks the api-version", r.Path, r.Query)
		}
	}
}

func TestVaultClientRefusesForeignNextLink(t *testing.T) {
	ts, seen := vaultStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"value":[],"nextLink":"https://evil.example/secrets?api-version=7.5"}`)
	})
	_, err := NewVaultClient(ts.URL, ts.Client(), staticToken("tok")).ListSecrets(t.Context())
	if err == nil || !strings.Contains(err.Error(), "evil.example") || len(seen()) != 1 {
		t.Errorf("a nextLink to another origin: %v after %d requests; want a refusal after the first", err, len(seen()))
	}
}

func TestVaultClientErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   Error
	}{
		{"Key Vault error with inner code", 403, map[string]string{"x-ms-request-id": "kv-1", "X-Request-Id": "lk-1"},
			`{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}`,
			Error{StatusCode: 403, Code: "Forbidden/SecretDisabled", Message: "Operation get is not allowed on a disabled secret.", RequestID: "kv-1"}},
		{"Key Vault error without inner code", 404, map[string]string{"X-Request-Id": "lk-2"},
			`{"error":{"code":"SecretNotFound","message":"A secret with (name/id) a was not found in this key vault."}}`,
			Error{StatusCode: 404, Code: "SecretNotFound", Message: "A secret with (name/id) a was not found in this key vault.", RequestID: "lk-2"}},
		{"a proxy's page", 502, nil, `<html>bad gateway</html>`,
			Error{StatusCode: 502, Code: "BadGateway", Message: "<html>bad gateway</html>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, _ := vaultStandIn(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := NewVaultClient(ts.URL, ts.Client(), nil).GetSecret(t.Context(), "a", "")
			var e *Error
			if !errors.As(err, &e) || *e != tc.want {
				t.Errorf("GetSecret error = %#v, want %#v", err, tc.want)
			}
		})
	}
}

func TestVaultResource(t *testing.T) {
	tests := []struct{ url, resource, err string }{
		{"https://v.vault.localhost:8443", "https://vault.localhost:8443", ""},
		{"https://V.Vault.Example.COM/", "https://vault.example.com", ""},
		{"https://v.vault.example.com:443", "https://vault.example.com:443", ""},
		{"http://v.vault.localhost", "", "https://"},
		{"https://127.0.0.1:8443", "", "vault's own name"},
		{"https://localhost:8443", "", "vault's own name"},
		{"not a url", "", "https://"},
	}
	for _, tc := range tests {
		got, err := VaultResource(tc.url)
		if got != tc.resource || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("VaultResource(%q) = %q, %v; want %q, error with %q", tc.url, got, err, tc.resource, tc.err)
		}
	}
	if s, _ := VaultScope("https://v.vault.localhost:8443"); s != "https://vault.localhost:8443/.default" {
		t.Errorf("VaultScope = %q", s)
	}
}

func TestSecretBundleWire(t *testing.T) {
	const wire = `{"value":"hunter2","id":"https://v.vault.x/secrets/db/abc","attributes":{"enabled":true,"nbf":1700000000,"created":1700000000.5,"recoverableDays":7}}`
	var b SecretBundle
	if err := json.Unmarshal([]byte(wire), &b); err != nil {
		t.Fatal(err)
	}
	if b.Name() != "db" || b.Version() != "abc" || *b.Value != "hunter2" || b.Attributes.NotBefore.Unix() != 1700000000 || *b.Attributes.RecoverableDays != 7 {
		t.Errorf("decoded %#v (name %q version %q)", b.Attributes, b.Name(), b.Version())
	}
	if s := fmt.Sprintf("%v %+v %#v", b, b, b); strings.Contains(s, "hunter2") {
		t.Errorf("a SecretBundle prints its value: %s", s)
	}
	out, _ := json.Marshal(b.Attributes)
	if want := `{"enabled":true,"nbf":1700000000,"created":1700000000,"recoverableDays":7}`; string(out) != want {
		t.Errorf("attributes encode as %s, want %s", out, want)
	}
}

func TestVaultSettingsRequests(t *testing.T) {
	ts, seen := vaultStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"retentionDays":7,"purgeProtection":true,"networkAllow":["10.0.0.0/8"]}`)
	})
	c := New(ts.URL, ts.Client(), staticToken("mgmt"))
	st, err := c.VaultSettings(t.Context(), "v 1")
	if err != nil || st.RetentionDays != 7 || !st.PurgeProtection || len(st.NetworkAllow) != 1 {
		t.Fatalf("VaultSettings = %+v, %v", st, err)
	}
	days, none := 7, []string{}
	if _, err := c.UpdateVault(t.Context(), "v", VaultUpdate{RetentionDays: &days, NetworkAllow: &none}); err != nil {
		t.Fatal(err)
	}
	want := []vaultRequest{
		{"GET", "/api/v1/vaults/v%201/settings", "", "", "Bearer mgmt"},
		{"PATCH", "/api/v1/vaults/v", "", `{"retentionDays":7,"networkAllow":[]}`, "Bearer mgmt"},
	}
	if got := seen(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests %+v, want %+v", got, want)
	}
}
