package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/store"
)

// This file is the surface-wide canary test of the audit issue: secret
// values planted through every surface, and the credentials the server
// makes, must appear in no log line, no audit event, no metric and no
// response body other than the few whose purpose is to hand them out.
// Surfaces added later (accounts, the gateway, connections) extend the
// script in canaryScript.

// canaryRecorder is a RoundTripper that keeps every response, so that the
// test can search all of them.
type canaryRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex // guards seen
	seen []recorded
}

type recorded struct {
	method, url string
	status      int
	header      http.Header
	body        []byte
	// mayHold says this response's purpose is to hand out a secret: a
	// secret's value, a new client secret.
	mayHold bool
}

// mayHoldKey marks a request whose response may carry a secret.
type mayHoldKey struct{}

func (c *canaryRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ok, _ := r.Context().Value(mayHoldKey{}).(bool)
	c.mu.Lock()
	c.seen = append(c.seen, recorded{r.Method, r.URL.String(), resp.StatusCode, resp.Header.Clone(), body, ok})
	c.mu.Unlock()
	return resp, nil
}

func (c *canaryRecorder) responses() []recorded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]recorded(nil), c.seen...)
}

// canaryForms are the spellings of a secret the test looks for: as is, and
// the encodings a careless log or error might use.
func canaryForms(secret string) []string {
	return []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
		hex.EncodeToString([]byte(secret)),
		url.QueryEscape(secret),
	}
}

func TestCanaryEverySurface(t *testing.T) {
	e := newKVEnv(t, nil)
	rec := &canaryRecorder{next: e.hc.Transport}
	hc := &http.Client{Transport: rec}
	ctx := t.Context()
	holds := context.WithValue(ctx, mayHoldKey{}, true)

	canary := "canary-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	secrets := []string{canary}

	// send makes one raw request and returns status and body.
	send := func(ctx context.Context, method, target, token, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	want := func(what string, got, status int, body string) {
		t.Helper()
		if got != status {
			t.Fatalf("%s = %d %s, want %d", what, got, body, status)
		}
	}
	tokenURL := e.authorityHost() + e.tenant + "/oauth2/v2.0/token"
	form := func(v url.Values) string { return v.Encode() }
	const formType = "application/x-www-form-urlencoded"

	// The management API, as the administrator: a service principal and a
	// user whose credentials become canaries too.
	admin := client.New(strings.TrimSuffix(e.authorityHost(), "/"), hc,
		&client.ClientCredentials{TokenURL: tokenURL, ClientID: e.admin.AppID, Secret: e.admin.Secret, HTTPClient: hc})
	sp, err := admin.CreateServicePrincipal(holds, client.CreateServicePrincipalRequest{DisplayName: "canary-app"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, sp.Password)
	reset, err := admin.ResetServicePrincipalCredential(holds, sp.AppID, client.ResetCredentialRequest{})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, reset.Password)
	if _, err := admin.CreateUser(ctx, client.CreateUserRequest{Name: "canary-user", Password: canary}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateUser(ctx, client.CreateUserRequest{Name: "short-user", Password: canary[:5]}); err == nil {
		t.Fatal("a 5-character password was accepted")
	}

	// The token endpoint: wrong and right secrets, a password grant, a
	// client assertion that is the canary.
	for _, tc := range []struct {
		what   string
		values url.Values
		status int
	}{
		{"client secret that is the canary", url.Values{"grant_type": {identity.GrantClientCredentials}, "client_id": {sp.AppID},
			"client_secret": {canary}, "scope": {e.resource() + "/.default"}}, 401},
		{"old client secret", url.Values{"grant_type": {identity.GrantClientCredentials}, "client_id": {sp.AppID},
			"client_secret": {sp.Password}, "scope": {e.resource() + "/.default"}}, 401},
		{"new client secret", url.Values{"grant_type": {identity.GrantClientCredentials}, "client_id": {sp.AppID},
			"client_secret": {reset.Password}, "scope": {e.resource() + "/.default"}}, 200},
		{"password", url.Values{"grant_type": {"password"}, "client_id": {client.CLIClientID}, "username": {"canary-user"},
			"password": {canary}, "scope": {client.ManagementScope}}, 200},
		{"wrong password", url.Values{"grant_type": {"password"}, "client_id": {client.CLIClientID}, "username": {"canary-user"},
			"password": {canary + "x"}, "scope": {client.ManagementScope}}, 400},
		{"assertion that is the canary", url.Values{"grant_type": {identity.GrantClientCredentials}, "client_id": {sp.AppID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {canary},
			"scope": {e.resource() + "/.default"}}, 401},
	} {
		got, body := send(ctx, http.MethodPost, tokenURL, "", formType, form(tc.values))
		want("token: "+tc.what, got, tc.status, body)
	}

	// The Key Vault data plane: the canary as a secret's value through its
	// whole life, and as a bearer token.
	tok := e.token(e.admin, e.resource())
	secretURL := func(path string) string { return e.vaultURL("default") + path + "?" + apiVersion }
	got, body := send(holds, http.MethodPut, secretURL("/secrets/canary"), tok, "application/json", `{"value":"`+canary+`"}`)
	want("set", got, 200, body)
	got, body = send(holds, http.MethodGet, secretURL("/secrets/canary"), tok, "", "")
	want("get", got, 200, body)
	if !strings.Contains(body, canary) {
		t.Fatalf("get did not return the value: %s", body)
	}
	for _, step := range []struct {
		what, method, path, body string
		status                   int
		holds                    bool // a set answers with the value, as Key Vault does
	}{
		{"list", http.MethodGet, "/secrets", "", 200, false},
		{"versions", http.MethodGet, "/secrets/canary/versions", "", 200, false},
		{"update", http.MethodPatch, "/secrets/canary", `{"contentType":"text/plain"}`, 200, false},
		{"set with a bad body", http.MethodPut, "/secrets/canary2", `{"value":"` + canary + `",`, 400, false},
		{"set with a value of the wrong type", http.MethodPut, "/secrets/canary2", `{"value":["` + canary + `"]}`, 400, false},
		{"set with an unknown field", http.MethodPut, "/secrets/canary2", `{"value":"` + canary + `","valu":"` + canary + `"}`, 200, true},
		{"set in a vault that does not exist", http.MethodPut, "/secrets/canary", `{"value":"` + canary + `"}`, 0, false},
		{"backup", http.MethodPost, "/secrets/canary/backup", "", 200, false},
		{"delete", http.MethodDelete, "/secrets/canary", "", 200, false},
		{"get deleted", http.MethodGet, "/deletedsecrets/canary", "", 200, false},
		{"get after delete", http.MethodGet, "/secrets/canary", "", 404, false},
		{"recover", http.MethodPost, "/deletedsecrets/canary/recover", "", 200, false},
	} {
		target := secretURL(step.path)
		if step.status == 0 { // a vault that does not exist
			target = e.vaultURL("nosuchvault") + step.path + "?" + apiVersion
			step.status = 404
		}
		c := ctx
		if step.holds {
			c = holds
		}
		got, body := send(c, step.method, target, tok, "application/json", step.body)
		want("vault: "+step.what, got, step.status, body)
	}
	// A reader without the data action is refused the value.
	reader := e.principal("canary-reader", grant{"Reader", "/"})
	got, body = send(ctx, http.MethodGet, secretURL("/secrets/canary"), e.token(reader, e.resource()), "", "")
	want("get without the data action", got, 403, body)
	// The canary as a bearer token, on every surface.
	got, body = send(ctx, http.MethodGet, secretURL("/secrets/canary"), canary, "", "")
	want("vault with the canary as token", got, 401, body)
	got, body = send(ctx, http.MethodGet, e.authorityHost()+"api/v1/me", canary, "", "")
	want("management with the canary as token", got, 401, body)

	// Let the audit writer store what it queued, then search everything.
	waitAudit(t, e.env)
	var haystacks []struct{ where, text string }
	add := func(where, text string) { haystacks = append(haystacks, struct{ where, text string }{where, text}) }
	responses := rec.responses()
	if len(responses) < 25 {
		t.Fatalf("only %d responses recorded", len(responses))
	}
	for _, r := range responses {
		var h strings.Builder
		_ = r.header.Write(&h)
		add(fmt.Sprintf("headers of %s %s (%d)", r.method, r.url, r.status), h.String())
		if !r.mayHold {
			add(fmt.Sprintf("body of %s %s (%d)", r.method, r.url, r.status), string(r.body))
		}
	}
	add("the server's log", e.logs.String())
	if !strings.Contains(e.logs.String(), "level=DEBUG") {
		t.Fatal("the log was not kept at Debug level; the test would prove little")
	}
	events, _, err := audit.Query(ctx, e.db, audit.Filter{}, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 20 {
		t.Fatalf("only %d audit events stored", len(events))
	}
	for _, ev := range events {
		add(fmt.Sprintf("audit event %d", ev.Seq), fmt.Sprintf("%+v", ev))
	}
	got, body = send(ctx, http.MethodGet, e.authorityHost()+"metrics", "", "", "")
	want("metrics", got, 200, body)
	add("/metrics", body)

	for _, s := range secrets {
		for _, form := range canaryForms(s) {
			for _, h := range haystacks {
				if strings.Contains(h.text, form) {
					t.Errorf("a secret (%.12s...) appears in %s", s, h.where)
				}
			}
		}
	}
}

// waitAudit waits until the audit writer has stored every event it took.
func waitAudit(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.trail.Stats()
		if st.QueueDepth == 0 && st.Written+st.Dropped+st.Invalid >= st.Accepted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit writer did not catch up: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
