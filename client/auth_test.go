package client

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The client is driven against the real server in internal/httpapi's tests.
// These tests cover what the real server cannot show: how often tokens are
// fetched, and answers the real server never gives.

// tokenEndpoint answers client credentials requests with tokens that live
// expiresIn seconds, and counts them.
func tokenEndpoint(t *testing.T, expiresIn int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.PostFormValue("client_secret") != "s3cret" || r.PostFormValue("scope") != ManagementScope {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: invalid client credentials. Trace ID: abc Correlation ID: abc Timestamp: 2026-01-01 00:00:00Z","error_codes":[7000215]}`)
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"access_token":"token-%d"}`, expiresIn, n)
	}))
	t.Cleanup(ts.Close)
	return ts, &calls
}

func TestClientCredentialsCachesTokens(t *testing.T) {
	ts, calls := tokenEndpoint(t, 3600)
	cc := &ClientCredentials{TokenURL: ts.URL + "/t/oauth2/v2.0/token", ClientID: "app", Secret: "s3cret", HTTPClient: ts.Client()}
	first, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if tok, err := cc.Token(t.Context()); err != nil || tok != first {
				t.Errorf("Token() = %q, %v; want the cached %q", tok, err, first)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("the token endpoint was called %d times, want 1", n)
	}
}

func TestClientCredentialsRenewsEarly(t *testing.T) {
	ts, calls := tokenEndpoint(t, 240) // under the 5-minute margin: never worth caching
	cc := &ClientCredentials{TokenURL: ts.URL, ClientID: "app", Secret: "s3cret", HTTPClient: ts.Client()}
	for range 3 {
		if _, err := cc.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the token endpoint was called %d times, want 3", n)
	}
}

func TestClientCredentialsError(t *testing.T) {
	ts, _ := tokenEndpoint(t, 3600)
	cc := &ClientCredentials{TokenURL: ts.URL, ClientID: "app", Secret: "wrong-secret", HTTPClient: ts.Client()}
	_, err := cc.Token(t.Context())
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.StatusCode != http.StatusUnauthorized || oe.Code != "invalid_client" ||
		oe.Description != "AADSTS7000215: invalid client credentials." {
		t.Fatalf("Token() error = %#v, want invalid_client without the trace", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(fmt.Sprintf("%v %#v", cc, cc), "wrong-secret") {
		t.Error("the client secret shows in an error or when printed")
	}
}

func TestResponseErrors(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /api/v1/users":
			fmt.Fprint(w, `{"value":[{"name":"a"}],"nextLink":"https://elsewhere.example/api/v1/users?$skiptoken=x"}`)
		case "GET /api/v1/identities":
			w.Header().Set("X-Request-Id", "r1")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>upstream down</html>")
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"code":"BadRequest","message":"unknown field \"x\"","target":"x","requestId":"r2"}}`)
		}
	}))
	defer ts.Close()
	c := New(ts.URL, ts.Client(), nil)
	if _, err := c.Users(t.Context()); err == nil || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Errorf("a nextLink to another host: err = %v, want a refusal", err)
	}
	_, err := c.Identities(t.Context())
	if want := "<html>upstream down</html> (BadGateway, HTTP 502, request id r1)"; err == nil || err.Error() != want {
		t.Errorf("a non-API error = %v, want %q", err, want)
	}
	_, err = c.CreateUser(t.Context(), CreateUserRequest{Name: "a", Password: "p"})
	if want := `unknown field "x" (field x; BadRequest, HTTP 400, request id r2)`; err == nil || err.Error() != want {
		t.Errorf("an API error = %v, want %q", err, want)
	}
}
