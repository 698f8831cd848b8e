package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/gateway"
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
	gwLogs := &lockedBuffer{}
	gw := gateway.New(gateway.Options{Logger: slog.New(slog.NewTextHandler(gwLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e := &kvEnv{env: newEnv(t, envOptions{editIdentity: unthrottled, logs: true, keyVault: true, auditSink: true, gateway: gw})}
	e.setUp()
	up := newUpstream(t)
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

	// AI services accounts: the canary as the upstream's key, the account's
	// keys and an STS token, through the management API, the STS exchange
	// and the gateway (JSON and a stream), before and after a regeneration.
	upstreamKey := canary + "-upstream"
	secrets = append(secrets, upstreamKey)
	upURL := up.URL + "/v1"
	if _, _, err := admin.CreateAccount(ctx, "default", "canaryacct", client.AccountRequest{
		Upstream: &client.AccountUpstreamRequest{URL: &upURL, Key: &upstreamKey, Vault: "default"}}); err != nil {
		t.Fatal(err)
	}
	keys, err := admin.ListKeys(holds, "canaryacct")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, keys.Key1, keys.Key2)
	acct := strings.TrimSuffix(e.authorityHost(), "/") + "/accounts/canaryacct"
	call := func(c context.Context, path, header, value, body string, status int) string {
		t.Helper()
		req, err := http.NewRequestWithContext(c, http.MethodPost, acct+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status {
			t.Fatalf("POST %s with %s = %d %s, want %d", path, header, resp.StatusCode, b, status)
		}
		return string(b)
	}
	sts := call(holds, "/sts/v1.0/issueToken", "Ocp-Apim-Subscription-Key", keys.Key1, "", 200)
	secrets = append(secrets, sts)
	chat := `{"model":"gpt","messages":[{"role":"user","content":"hi"}]}`
	call(ctx, "/v1/chat/completions", "api-key", keys.Key1, chat, 200)
	call(ctx, "/v1/chat/completions", "api-key", keys.Key2, `{"model":"gpt","stream":true,"messages":[]}`, 200)
	call(ctx, "/openai/deployments/gpt/chat/completions?api-version=2024-10-21", "Ocp-Apim-Subscription-Key", keys.Key2, chat, 200)
	call(ctx, "/v1/chat/completions", "Authorization", "Bearer "+sts, chat, 200)
	call(ctx, "/v1/chat/completions", "api-key", canary, chat, 401)
	call(ctx, "/v1/chat/completions", "Authorization", "Bearer "+canary, chat, 401)
	call(ctx, "/sts/v1.0/issueToken", "Ocp-Apim-Subscription-Key", canary, "", 401)
	regenerated, err := admin.RegenerateKey(holds, "canaryacct", "key1")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, regenerated.Key1)
	call(ctx, "/v1/chat/completions", "api-key", keys.Key1, chat, 401)
	call(ctx, "/v1/chat/completions", "Authorization", "Bearer "+sts, chat, 401)
	if _, err := admin.KeyUses(ctx, "canaryacct"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Usage(ctx, "canaryacct"); err != nil {
		t.Fatal(err)
	}
	calls := up.seen()
	if len(calls) < 4 {
		t.Fatalf("the upstream saw %d calls, want the 4 that were allowed", len(calls))
	}
	for _, c := range calls {
		if got := c.header.Get("Authorization"); got != "Bearer "+upstreamKey {
			t.Errorf("the upstream got Authorization %.20q..., want its own key", got)
		}
		for name, vs := range c.header {
			for _, k := range []string{keys.Key1, keys.Key2, sts, regenerated.Key1} {
				if strings.Contains(strings.Join(vs, ","), k) {
					t.Errorf("the upstream saw a caller's credential in its %s header", name)
				}
			}
		}
	}

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
	add("the gateway's log", gwLogs.String())
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
	if err := e.sink.Close(ctx); err != nil { // delivers what it holds
		t.Fatal(err)
	}
	if n := strings.Count(e.sinkOut.String(), "\n"); n < len(events) {
		t.Fatalf("the audit sink wrote %d lines for %d events", n, len(events))
	}
	add("the audit sink's JSON Lines", e.sinkOut.String())
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
