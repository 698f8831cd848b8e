package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
)

// This file tests the accounts' management API through the Go client, and
// the STS exchange and key authentication of their data plane, on the real
// server.

// accountURL is the data-plane URL of account name on the server.
func (e *kvEnv) accountURL(name string) string {
	return strings.TrimSuffix(e.authorityHost(), "/") + "/accounts/" + name
}

// createAccount creates account name in hub default as the admin, with an
// upstream key.
func (e *kvEnv) createAccount(name, upstream, upstreamKey string) client.Account {
	e.t.Helper()
	req := client.AccountRequest{Upstream: &client.AccountUpstreamRequest{URL: &upstream}}
	if upstreamKey != "" {
		req.Upstream.Key, req.Upstream.Vault = &upstreamKey, "default" // the hub has two vaults
	}
	a, created, err := e.managementClient(e.admin).CreateAccount(context.Background(), "default", name, req)
	if err != nil || !created {
		e.t.Fatalf("CreateAccount(%s) = %v, created %v", name, err, created)
	}
	return a
}

// sts calls the STS exchange of account with the headers and returns the
// answer.
func (e *kvEnv) sts(account string, header ...string) kvAnswer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.accountURL(account)+"/sts/v1.0/issueToken", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return kvAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantAccountError checks an error answer of the data plane: status, Azure
// AI services' {"error":{"code","message"}}, and apim-request-id.
func (a kvAnswer) wantAccountError(t *testing.T, what string, status int, code string) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if a.status != status {
		t.Fatalf("%s = %d %s, want %d", what, a.status, a.body, status)
	}
	if err := json.Unmarshal(a.body, &body); err != nil || body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("%s: body %s, want code %q and a message", what, a.body, code)
	}
	if id := a.header.Get("apim-request-id"); id == "" || id != a.header.Get("X-Request-Id") {
		t.Errorf("%s: apim-request-id %q, X-Request-Id %q; want the request id in both", what, id, a.header.Get("X-Request-Id"))
	}
	return body.Error.Message
}

// wantInvalid checks that err is a 400 naming the field target.
func wantInvalid(t *testing.T, what string, err error, target string) {
	t.Helper()
	if ae := wantAPIError(t, what, err, http.StatusBadRequest); ae.Target != target {
		t.Errorf("%s = %v; want field %q", what, err, target)
	}
}

func TestAccountsAPI(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	ctx := context.Background()
	admin := e.managementClient(e.admin)
	const upstreamKey = "sk-upstream-5e4d"
	a := e.createAccount("aoai", "https://api.example/v1/", upstreamKey)
	if a.ID != "/hubs/default/accounts/aoai" || a.Kind != "Account" || a.AccountKind != "OpenAI" || a.Endpoint != e.accountURL("aoai") ||
		a.Upstream != (client.AccountUpstream{URL: "https://api.example/v1", Auth: "key", KeyHeader: "authorization", Vault: "default", Secret: "account-aoai-upstream"}) ||
		a.Identity.Type != "SystemAssigned" || a.Identity.TenantID != e.tenant || a.ActiveKey != "key1" {
		t.Errorf("CreateAccount = %+v", a)
	}
	if again, created, err := admin.CreateAccount(ctx, "default", "aoai", client.AccountRequest{Name: "aoai"}); err != nil || created || again.Identity != a.Identity {
		t.Errorf("CreateAccount again = %+v, created %v, %v", again, created, err)
	}
	_, _, err := admin.CreateAccount(ctx, "default", "aoai", client.AccountRequest{Name: "other"})
	wantInvalid(t, "PUT naming another account in the body", err, "name")
	bad := "ftp://x"
	_, _, err = admin.CreateAccount(ctx, "default", "bad", client.AccountRequest{Upstream: &client.AccountUpstreamRequest{URL: &bad}})
	wantInvalid(t, "PUT with an ftp upstream", err, "upstream.url")

	got, err := admin.AccountByName(ctx, "AOAI")
	if err != nil || got.Identity != a.Identity {
		t.Errorf("AccountByName = %+v, %v", got, err)
	}
	all, err := admin.ListAccounts(ctx, "")
	inHub, err2 := admin.ListAccounts(ctx, "default")
	records, err3 := admin.Accounts(ctx, "default") // the resource view still works
	if err != nil || err2 != nil || err3 != nil || len(all) != 1 || len(inHub) != 1 || len(records) != 1 || records[0].Kind != "Account" {
		t.Errorf("ListAccounts = %v %v, %v %v; Accounts = %v %v", all, err, inHub, err2, records, err3)
	}
	rpm := client.AccountLimits{RequestsPerMinute: 30}
	if up, err := admin.UpdateAccount(ctx, "aoai", client.AccountRequest{Limits: &rpm}); err != nil || up.Limits != rpm || up.Upstream.Vault != "default" {
		t.Errorf("UpdateAccount = %+v, %v", up, err)
	}

	// Azure's listKeys and regenerateKey on the hub's path, in Azure's shapes.
	keysURL := strings.TrimSuffix(e.authorityHost(), "/") + "/api/v1/hubs/default/accounts/aoai/"
	mgmt := e.token(e.admin, client.ManagementAudience)
	listed := e.do(http.MethodPost, keysURL+"listKeys", mgmt, "")
	var raw map[string]string
	if err := json.Unmarshal(listed.body, &raw); listed.status != http.StatusOK || err != nil || len(raw) != 2 || len(raw["key1"]) != 64 {
		t.Fatalf("POST listKeys = %d %s", listed.status, listed.body)
	}
	if cc := listed.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("listKeys Cache-Control %q, want no-store", cc)
	}
	regen := e.do(http.MethodPost, keysURL+"regenerateKey", mgmt, `{"keyName":"Key1"}`)
	var after client.AccountKeys
	if err := json.Unmarshal(regen.body, &after); regen.status != http.StatusOK || err != nil || after.Key1 == raw["key1"] || after.Key2 != raw["key2"] {
		t.Errorf("POST regenerateKey {Key1} = %d %s", regen.status, regen.body)
	}
	_, err = admin.RegenerateKey(ctx, "aoai", "key3")
	wantInvalid(t, "RegenerateKey(key3)", err, "keyName")
	if ks, err := admin.ListKeys(ctx, "aoai"); err != nil || ks != after {
		t.Errorf("ListKeys = %v, want the keys regenerateKey returned", err)
	}
	if ak, err := admin.ActiveKey(ctx, "aoai"); err != nil || ak.KeyName != "key1" || ak.Key != after.Key1 {
		t.Errorf("ActiveKey = %+v, %v", ak, err)
	}
	_, err = admin.RotateKeys(ctx, "aoai", client.RotateKeysRequest{QuietPeriod: "soon"})
	wantInvalid(t, "RotateKeys with a bad quiet period", err, "quietPeriod")
	if st, err := admin.RotateKeys(ctx, "aoai", client.RotateKeysRequest{QuietPeriod: "1m"}); err != nil || !st.Done || st.Step != 1 || st.ActiveKey != "key2" {
		t.Errorf("RotateKeys = %+v, %v", st, err)
	}
	if e.sts("aoai", "Ocp-Apim-Subscription-Key", after.Key1).status != http.StatusOK {
		t.Fatal("the STS exchange with key1 failed")
	}
	st, err := admin.RotateKeys(ctx, "aoai", client.RotateKeysRequest{QuietPeriod: "1m"})
	if err != nil || st.Done || st.Step != 2 || len(st.Held) != 1 || st.Held[0].KeyName != "key1" || st.Held[0].Caller != "127.0.0.1" || st.RetryAt == nil {
		t.Errorf("RotateKeys with key1 just used = %+v, %v; want step 2 held, naming this caller", st, err)
	}
	if uses, err := admin.KeyUses(ctx, "aoai"); err != nil || len(uses) != 1 || uses[0].KeyName != "key1" || uses[0].Via != "key" {
		t.Errorf("KeyUses = %+v, %v", uses, err)
	}

	stranger := e.managementClient(e.principal("stranger"))
	_, err = stranger.ListKeys(ctx, "aoai")
	wantStatus(t, "a stranger's ListKeys", err, http.StatusForbidden)
	_, err = stranger.AccountByName(ctx, "aoai")
	wantStatus(t, "a stranger's AccountByName", err, http.StatusForbidden)
	if list, err := stranger.ListAccounts(ctx, ""); err != nil || len(list) != 0 {
		t.Errorf("a stranger's ListAccounts = %v, %v; want none", list, err)
	}

	// No answer shows the upstream key.
	for _, v := range []any{a, got, all} {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), upstreamKey) {
			t.Errorf("an answer shows the upstream key: %s", b)
		}
	}
	if err := admin.DeleteAccountByName(ctx, "aoai"); err != nil {
		t.Fatal(err)
	}
	_, err = admin.AccountByName(ctx, "aoai")
	wantStatus(t, "the deleted account", err, http.StatusNotFound)
}

// TestAccountsSTS: the token exchange takes a key in either header and
// answers a 10-minute token as plain text; everything else is refused in
// Azure's shape; a regenerated key stops at once; and the audit trail names
// the key, never its value.
func TestAccountsSTS(t *testing.T) {
	clk := newFakeClock()
	e := newKVEnv(t, clk)
	e.createAccount("aoai", "http://127.0.0.1:9/v1", "")
	ks, err := e.managementClient(e.admin).ListKeys(context.Background(), "aoai")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Ocp-Apim-Subscription-Key", "api-key"} {
		a := e.sts("aoai", h, ks.Key2)
		if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") || strings.Count(string(a.body), ".") != 2 {
			t.Errorf("the STS exchange with %s = %d %q %s", h, a.status, a.header.Get("Content-Type"), a.body)
		}
	}
	msg := e.sts("aoai").wantAccountError(t, "the STS exchange without a key", http.StatusUnauthorized, "401")
	if !strings.Contains(msg, "Ocp-Apim-Subscription-Key") {
		t.Errorf("the message %q does not say where the key goes", msg)
	}
	e.sts("aoai", "Authorization", "Bearer "+e.token(e.admin, "https://cognitiveservices.azure.com")).
		wantAccountError(t, "the STS exchange with an Entra token", http.StatusUnauthorized, "401")
	e.sts("aoai", "Ocp-Apim-Subscription-Key", strings.Repeat("0", 64)).wantAccountError(t, "a wrong key", http.StatusUnauthorized, "401")
	e.sts("nope", "Ocp-Apim-Subscription-Key", ks.Key1).wantAccountError(t, "an unknown account", http.StatusNotFound, "NotFound")

	if _, err := e.managementClient(e.admin).RegenerateKey(context.Background(), "aoai", "key1"); err != nil {
		t.Fatal(err)
	}
	e.sts("aoai", "Ocp-Apim-Subscription-Key", ks.Key1).wantAccountError(t, "the regenerated key1", http.StatusUnauthorized, "401")
	if a := e.sts("aoai", "Ocp-Apim-Subscription-Key", ks.Key2); a.status != http.StatusOK {
		t.Errorf("key2 after regenerating key1 = %d", a.status)
	}

	// Data-plane calls are audited (enqueued) by key name.
	var events []audit.Entry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(events) < 8; time.Sleep(5 * time.Millisecond) {
		events = e.auditEvents(access.AccountsInference)
	}
	byKey := map[string]int{}
	for _, en := range events {
		ev := en.Event
		for _, k := range []string{ks.Key1, ks.Key2} {
			if strings.Contains(ev.PrincipalName+ev.PrincipalID+ev.Reason+ev.Scope+ev.AuthMethod, k) {
				t.Errorf("an audit event holds a key: %+v", ev)
			}
		}
		if ev.Result == audit.Allowed {
			byKey[ev.PrincipalName+"/"+ev.AuthMethod+"/"+ev.Scope]++
		}
	}
	if byKey["key2/subscription_key//hubs/default/accounts/aoai"] != 3 {
		t.Errorf("allowed STS events by key: %v; want 3 of key2 with the account's scope (of %d events)", byKey, len(events))
	}
}
