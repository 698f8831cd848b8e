package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/gateway"
	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/store"
)

// This file drives connections over HTTPS with the Go client: visibility
// from projects, listsecrets and its audit records, the canary that must
// appear nowhere but in listsecrets, and the connection proxy.

// connEnv is a kvEnv with the connection service, projects p1 and p2 of hub
// default, and the hub's Key Vault connection "hub-vault" on vault default,
// read as managed identity "hub-vault-reader".
type connEnv struct {
	*kvEnv
	ctx   context.Context
	admin *client.Client
	// recorder sees every exchange of the clients made by clientOf.
	recorder *recorder
	// gw is the gateway the connection proxy forwards through.
	gw *gateway.Gateway
}

func newConnEnv(t *testing.T) *connEnv {
	t.Helper()
	gw := gateway.New(gateway.Options{})
	kv := newKVEnvWith(t, envOptions{editIdentity: unthrottled, logs: true, keyVault: true, connections: true, gateway: gw})
	e := &connEnv{kvEnv: kv, ctx: t.Context(), recorder: &recorder{next: kv.hc.Transport}, gw: gw}
	for _, scope := range []string{"/hubs/default/projects/p1", "/hubs/default/projects/p2"} {
		if _, err := e.access.CreateResource(e.ctx, e.kvEnv.admin.ID, scope); err != nil {
			t.Fatal(err)
		}
	}
	mi, err := e.ids.CreateManagedIdentity(e.ctx, "hub-vault-reader")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.access.Bootstrap(e.ctx, mi.ID, "Key Vault Secrets Officer", "/hubs/default/vaults/default"); err != nil {
		t.Fatal(err)
	}
	e.admin = e.clientOf(e.kvEnv.admin)
	if _, created, err := e.admin.PutConnection(e.ctx, "default", "", "hub-vault", client.ConnectionDefinition{
		Category: "KeyVault", Vault: "default", Identity: "hub-vault-reader"}); err != nil || !created {
		t.Fatalf("PutConnection(Key Vault connection) = created %v, %v", created, err)
	}
	return e
}

// clientOf is the management client acting as p, through the recorder.
func (e *connEnv) clientOf(p kvPrincipal) *client.Client {
	base := strings.TrimSuffix(e.authorityHost(), "/")
	return client.New(base, &http.Client{Transport: e.recorder}, staticToken(e.token(p, client.ManagementAudience)))
}

// secretsRole creates (once) a custom role that reads connections and holds
// the listsecrets and proxy data actions.
func (e *connEnv) secretsRole() string {
	e.t.Helper()
	const name = "Connection Secrets User"
	if _, err := e.access.Role(e.ctx, name); err == nil {
		return name
	}
	_, err := e.access.CreateRole(e.ctx, e.kvEnv.admin.ID, access.Role{Name: name, Description: "Read connections, list their secrets, call them through the proxy.",
		Permissions: []access.Permission{{Actions: []string{access.ConnectionsRead}, DataActions: []string{access.ConnectionsListSecrets, access.ConnectionsProxy}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return name
}

// auditEvents lists every audit event, oldest first.
func (e *connEnv) auditEvents() []audit.Entry {
	e.t.Helper()
	es, _, err := audit.Query(e.ctx, e.db, audit.Filter{}, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// recorder keeps every request and answer its clients exchanged, bodies
// included, for the tests that look for a credential in them.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex // guards log
	log  []exchangeRecord
}

type exchangeRecord struct {
	method, url   string
	reqHeader     http.Header
	reqBody       []byte
	status        int
	header        http.Header
	body          []byte
	streamedAfter bool // the answer was not read here (a stream): body is empty
}

func (rc *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := rc.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rec := exchangeRecord{method: req.Method, url: req.URL.String(), reqHeader: req.Header.Clone(), reqBody: body, status: resp.StatusCode, header: resp.Header.Clone()}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		rec.streamedAfter = true
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		rec.body = b
	}
	rc.mu.Lock()
	rc.log = append(rc.log, rec)
	rc.mu.Unlock()
	return resp, nil
}

func (rc *recorder) all() []exchangeRecord {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.log)
}

func canaryValue(t *testing.T) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "canary-" + hex.EncodeToString(b[:])
}

func ids(cs []client.Connection) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// TestConnectionsOverHTTPS: what the Done-when asks of visibility,
// listsecrets and its audit records, over HTTPS with the Go client.
func TestConnectionsOverHTTPS(t *testing.T) {
	e := newConnEnv(t)
	ctx := e.ctx
	mustPut := func(project, name string, def client.ConnectionDefinition) client.Connection {
		t.Helper()
		c, _, err := e.admin.PutConnection(ctx, "default", project, name, def)
		if err != nil {
			t.Fatalf("PutConnection(%s/%s) = %v", project, name, err)
		}
		return c
	}
	openai := mustPut("", "openai", client.ConnectionDefinition{Category: "AzureOpenAI", Target: "https://aoai.example/",
		Credentials: &client.ConnectionCredentials{Key: "aoai-key-1"}, Metadata: map[string]string{"ApiVersion": "2024-10-21"}})
	blob := mustPut("p1", "blob", client.ConnectionDefinition{Category: "AzureBlob", AuthType: "SAS", Target: "https://acct.blob.core.windows.net/data",
		Credentials: &client.ConnectionCredentials{SAS: "sv=2024&sig=blob-sas-1"}})
	mustPut("p2", "secret-api", client.ConnectionDefinition{Category: "ApiKey", Target: "https://api.example/v1", Credentials: &client.ConnectionCredentials{Key: "p2-key"}})
	if openai.Properties.Credentials != nil || !openai.Properties.IsSharedToAll || len(openai.Properties.Secrets) != 1 || openai.Type != client.ConnectionType {
		t.Fatalf("PutConnection answer = %+v", openai)
	}

	member := e.principal("member", grant{"Reader", "/hubs/default/projects/p1"})
	mc := e.clientOf(member)
	lister := e.principal("lister", grant{e.secretsRole(), "/hubs/default/projects/p1"})
	lc := e.clientOf(lister)

	t.Run("a project member sees the shared and own connections and nothing of a sibling", func(t *testing.T) {
		got, err := mc.Connections(ctx, "default", "p1")
		want := []string{"/hubs/default/connections/hub-vault", "/hubs/default/connections/openai", "/hubs/default/projects/p1/connections/blob"}
		if err != nil || !slices.Equal(ids(got), want) {
			t.Errorf("Connections(p1) = %v, %v; want %v", ids(got), err, want)
		}
		if got, err := mc.Connections(ctx, "default", "p2"); err != nil || len(got) != 0 {
			t.Errorf("Connections(p2) = %v, %v; want none", ids(got), err)
		}
		if c, err := mc.Connection(ctx, "default", "p1", "openai"); err != nil || c.ID != openai.ID || c.Properties.Metadata["ApiVersion"] != "2024-10-21" {
			t.Errorf("Connection(p1, openai) = %+v, %v", c, err)
		}
		_, err = mc.Connection(ctx, "default", "p2", "secret-api")
		wantStatus(t, "Connection(p2, secret-api)", err, http.StatusForbidden)
		_, err = mc.Connection(ctx, "default", "p1", "secret-api")
		wantStatus(t, "Connection(p1, secret-api)", err, http.StatusNotFound)
		_, err = mc.Connection(ctx, "default", "", "openai")
		wantStatus(t, "Connection(hub, openai) as a project member", err, http.StatusForbidden)
		_, _, err = mc.PutConnection(ctx, "default", "p1", "mine", client.ConnectionDefinition{Category: "AzureBlob", Target: "https://x"})
		wantStatus(t, "PutConnection as a Reader", err, http.StatusForbidden)
	})

	t.Run("list-secrets is refused without the data action and works with it", func(t *testing.T) {
		_, err := mc.ListConnectionSecrets(ctx, "default", "p1", "openai")
		wantStatus(t, "ListConnectionSecrets(Reader, openai)", err, http.StatusForbidden)
		if err == nil || !strings.Contains(err.Error(), access.ConnectionsListSecrets) {
			t.Errorf("the refusal does not name the action: %v", err)
		}
		c, err := lc.ListConnectionSecrets(ctx, "default", "p1", "openai")
		if err != nil || c.Properties.Credentials == nil || c.Properties.Credentials.Key != "aoai-key-1" || c.ID != openai.ID {
			t.Fatalf("ListConnectionSecrets(lister, openai) = %+v, %v", c, err)
		}
	})

	t.Run("a Reader reads a datastore connection's secret unless the hub turns it off", func(t *testing.T) {
		c, err := mc.ListConnectionSecrets(ctx, "default", "p1", "blob")
		if err != nil || c.Properties.Credentials == nil || c.Properties.Credentials.SAS != "sv=2024&sig=blob-sas-1" {
			t.Fatalf("ListConnectionSecrets(Reader, blob) = %+v, %v", c, err)
		}
		off := false
		kv, err := e.admin.UpdateConnection(ctx, "default", "", "hub-vault", client.ConnectionUpdate{Properties: client.ConnectionChanges{ReadersReadDatastoreCredentials: &off}})
		if err != nil || kv.Properties.ReadersReadDatastoreCredentials == nil || *kv.Properties.ReadersReadDatastoreCredentials {
			t.Fatalf("turning the hub setting off = %+v, %v", kv, err)
		}
		_, err = mc.ListConnectionSecrets(ctx, "default", "p1", "blob")
		wantStatus(t, "ListConnectionSecrets(Reader, blob) with the hub setting off", err, http.StatusForbidden)
		if _, err := lc.ListConnectionSecrets(ctx, "default", "p1", "blob"); err != nil {
			t.Errorf("ListConnectionSecrets(lister, blob) with the hub setting off = %v", err)
		}
	})

	t.Run("every secret read leaves one audit record naming the connection and the vault secret", func(t *testing.T) {
		events := e.auditEvents()
		var reads, requests []audit.Entry
		for _, ev := range events {
			switch ev.Operation {
			case access.SecretsGet:
				reads = append(reads, ev)
			case access.ConnectionsListSecrets:
				requests = append(requests, ev)
			}
		}
		// Successful reads: lister/openai, member/blob, lister/blob.
		wantReads := []struct{ who, conn, secret string }{
			{lister.ID, openai.ID, openai.Properties.Secrets[0].Name},
			{member.ID, blob.ID, blob.Properties.Secrets[0].Name},
			{lister.ID, blob.ID, blob.Properties.Secrets[0].Name},
		}
		if len(reads) != len(wantReads) {
			t.Fatalf("%d secret-read records, want %d: %+v", len(reads), len(wantReads), reads)
		}
		for i, w := range wantReads {
			r := reads[i]
			if r.PrincipalID != w.who || r.Scope != "/hubs/default/vaults/default/secrets/"+w.secret ||
				r.Reason != "listsecrets of connection "+w.conn || r.Result != audit.Allowed || !r.ClientIP.IsValid() {
				t.Errorf("secret read %d = %+v; want %s reading %s of %s", i, r.Event, w.who, w.secret, w.conn)
			}
			// It belongs to the listsecrets request, whose event names the connection.
			i := slices.IndexFunc(requests, func(q audit.Entry) bool { return q.CorrelationID == r.CorrelationID })
			if i < 0 || requests[i].Scope != w.conn || requests[i].Result != audit.Allowed {
				t.Errorf("no allowed listsecrets request event on %s with request id %s: %+v", w.conn, r.CorrelationID, requests)
			}
		}
		denied := 0
		for _, q := range requests {
			if q.Result == audit.Denied {
				denied++
				if q.Scope != "/hubs/default/projects/p1/connections/openai" && q.Scope != blob.ID {
					t.Errorf("denied listsecrets event at %s", q.Scope)
				}
			}
		}
		if denied != 2 {
			t.Errorf("%d denied listsecrets events, want 2", denied)
		}
	})
}

// TestConnectionCanary: a credential planted in a connection appears in no
// answer of the API but listsecrets', in no log line and no audit record.
func TestConnectionCanary(t *testing.T) {
	e := newConnEnv(t)
	ctx := e.ctx
	canary := canaryValue(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(upstream.Close)
	user := e.principal("user", grant{e.secretsRole(), "/hubs/default"})
	uc := e.clientOf(user)

	steps := []struct {
		name string
		call func() error
	}{
		{"create", func() error {
			_, _, err := e.admin.PutConnection(ctx, "default", "p1", "api", client.ConnectionDefinition{Category: "ApiKey", Target: upstream.URL,
				Credentials: &client.ConnectionCredentials{Key: canary}})
			return err
		}},
		{"refused create", func() error {
			_, _, err := e.admin.PutConnection(ctx, "default", "p1", "bad", client.ConnectionDefinition{Category: "CustomKeys",
				Credentials: &client.ConnectionCredentials{Keys: map[string]string{"a b": canary}}})
			return wantErr(err)
		}},
		{"refused as a Reader", func() error {
			reader := e.clientOf(e.principal("reader", grant{"Reader", "/hubs/default"}))
			_, err := reader.ListConnectionSecrets(ctx, "default", "p1", "api")
			return wantErr(err)
		}},
		{"show", func() error { _, err := uc.Connection(ctx, "default", "p1", "api"); return err }},
		{"list", func() error { _, err := uc.Connections(ctx, "default", "p1"); return err }},
		{"update", func() error {
			d := "now with a description"
			_, err := e.admin.UpdateConnection(ctx, "default", "p1", "api", client.ConnectionUpdate{Properties: client.ConnectionChanges{Description: &d}})
			return err
		}},
		{"replace, keeping the credential", func() error {
			_, _, err := e.admin.PutConnection(ctx, "default", "p1", "api", client.ConnectionDefinition{Category: "ApiKey", Target: upstream.URL})
			return err
		}},
		{"list-secrets", func() error {
			c, err := uc.ListConnectionSecrets(ctx, "default", "p1", "api")
			if err == nil && (c.Properties.Credentials == nil || c.Properties.Credentials.Key != canary) {
				return fmt.Errorf("listsecrets = %+v, want the canary", c.Properties.Credentials)
			}
			return err
		}},
		{"proxy", func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, uc.ConnectionProxyURL("default", "p1", "api")+"/v1/chat", strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer "+e.token(user, client.ManagementAudience))
			resp, err := (&http.Client{Transport: e.recorder}).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("proxy = %d", resp.StatusCode)
			}
			return nil
		}},
		{"hub listing", func() error {
			_, err := e.admin.Connections(ctx, "default", "")
			return err
		}},
		{"the vault's own listing of its secrets (metadata)", func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.vaultURL("default")+"/secrets?api-version=7.5", nil)
			req.Header.Set("Authorization", "Bearer "+e.token(e.kvEnv.admin, e.resource()))
			resp, err := (&http.Client{Transport: e.recorder}).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "conn-p1-api-key-") {
				return fmt.Errorf("vault listing = %d %s, want the connection's secret listed", resp.StatusCode, b)
			}
			return nil
		}},
		{"delete", func() error { return e.admin.DeleteConnection(ctx, "default", "p1", "api") }},
	}
	for _, st := range steps {
		if err := st.call(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	e.trail.Close()
	listSecretsAnswers := 0
	for _, x := range e.recorder.all() {
		if bytes.Contains(x.reqBody, []byte(canary)) && x.method != http.MethodPut && !strings.Contains(x.url, "/connections/bad") {
			t.Errorf("%s %s: the client sent the canary", x.method, x.url)
		}
		inAnswer := bytes.Contains(x.body, []byte(canary)) || strings.Contains(fmt.Sprint(x.header), canary)
		isListSecrets := strings.HasSuffix(x.url, "/listsecrets") && x.status == http.StatusOK
		if isListSecrets && inAnswer {
			listSecretsAnswers++
		} else if inAnswer {
			t.Errorf("%s %s (%d): the answer holds the canary: %s", x.method, x.url, x.status, x.body)
		}
	}
	if listSecretsAnswers != 1 {
		t.Errorf("%d listsecrets answers held the canary, want 1", listSecretsAnswers)
	}
	if strings.Contains(e.logs.String(), canary) {
		t.Errorf("the server's log holds the canary")
	}
	events := e.auditEvents()
	if len(events) < len(steps) {
		t.Fatalf("only %d audit events", len(events))
	}
	for _, ev := range events {
		if strings.Contains(fmt.Sprintf("%#v", ev), canary) {
			t.Errorf("audit event %d holds the canary: %+v", ev.Seq, ev.Event)
		}
	}
	rows, _, err := e.db.Resources(ctx, store.Connection, "/hubs/default/projects/p1", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if bytes.Contains(r.Properties, []byte(canary)) {
			t.Errorf("the stored record %s holds the canary", r.Scope)
		}
	}
}

func wantErr(err error) error {
	if err == nil {
		return fmt.Errorf("the call succeeded; it should have been refused")
	}
	return nil
}

// TestConnectionProxy: a call through the connection proxy reaches a
// loopback upstream with the connection's credential, which the client never
// sent; the caller's own token does not go upstream; answers stream.
func TestConnectionProxy(t *testing.T) {
	e := newConnEnv(t)
	ctx := e.ctx
	type seen struct {
		method, path, query string
		header              http.Header
		body                []byte
	}
	got := make(chan seen, 4)
	next := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b}
		if r.URL.Path == "/v1/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			<-next // the second event waits until the client has read the first
			fmt.Fprint(w, "data: two\n\n")
			return
		}
		w.Header().Set("X-Request-Id", "upstream-id")
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, `{"answer":42}`)
	}))
	t.Cleanup(upstream.Close)
	const key = "upstream-key-7c1d"
	if _, _, err := e.admin.PutConnection(ctx, "default", "", "llm", client.ConnectionDefinition{Category: "ApiKey", Target: upstream.URL + "/v1",
		Credentials: &client.ConnectionCredentials{Key: key}}); err != nil {
		t.Fatal(err)
	}
	prefix := ""
	if _, _, err := e.admin.PutConnection(ctx, "default", "p1", "partner", client.ConnectionDefinition{Category: "CustomKeys", Target: upstream.URL,
		Credentials: &client.ConnectionCredentials{Keys: map[string]string{"token": "partner-token", "org": "org-1"}},
		Proxy:       &client.ConnectionProxy{Header: "api-key", Prefix: &prefix, Key: "token"}}); err != nil {
		t.Fatal(err)
	}
	user := e.principal("user", grant{e.secretsRole(), "/hubs/default/projects/p1"})
	token := e.token(user, client.ManagementAudience)
	hc := &http.Client{Transport: e.recorder}
	base := e.clientOf(user)
	call := func(method, url, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Api-Key", "caller-key")
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	t.Run("the shared connection, through the member's project", func(t *testing.T) {
		resp := call(http.MethodPost, base.ConnectionProxyURL("default", "p1", "llm")+"/chat/completions?api-version=1", `{"model":"m"}`)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusTeapot || string(b) != `{"answer":42}` {
			t.Fatalf("proxy answer = %d %s, want the upstream's 418", resp.StatusCode, b)
		}
		if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 || ids[0] == "upstream-id" {
			t.Errorf("X-Request-Id = %v, want this request's id alone", ids)
		}
		s := <-got
		if s.method != http.MethodPost || s.path != "/v1/chat/completions" || s.query != "api-version=1" || string(s.body) != `{"model":"m"}` {
			t.Errorf("upstream saw %s %s?%s %s", s.method, s.path, s.query, s.body)
		}
		if h := s.header.Get("Authorization"); h != "Bearer "+key {
			t.Errorf("upstream Authorization = %q, want the connection's key", h)
		}
		if strings.Contains(fmt.Sprint(s.header), token) || s.header.Get("Api-Key") != "" {
			t.Errorf("the caller's credentials reached the upstream: %v", s.header)
		}
	})

	t.Run("a CustomKeys connection with its own header", func(t *testing.T) {
		resp := call(http.MethodGet, base.ConnectionProxyURL("default", "p1", "partner")+"/", "")
		if resp.StatusCode != http.StatusTeapot {
			t.Fatalf("proxy = %d", resp.StatusCode)
		}
		s := <-got
		if s.header.Get("Api-Key") != "partner-token" || s.header.Get("Authorization") != "" || s.path != "/" {
			t.Errorf("upstream saw %s with headers %v", s.path, s.header)
		}
	})

	t.Run("answers stream", func(t *testing.T) {
		resp := call(http.MethodPost, base.ConnectionProxyURL("default", "p1", "llm")+"/stream", `{"stream":true}`)
		<-got
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		if err != nil || line != "data: one\n" {
			t.Fatalf("first event = %q, %v", line, err)
		}
		close(next)
		rest, _ := io.ReadAll(r)
		if !strings.Contains(string(rest), "data: two") {
			t.Errorf("the rest of the stream = %q", rest)
		}
	})

	t.Run("the gateway meters the calls per connection and caller", func(t *testing.T) {
		u := e.gw.Usage(httpapi.ConnectionMeterName("/hubs/default/connections/llm"))
		if u.Requests != 2 || len(u.Callers) != 1 || u.Callers[0].Key != "principal:"+user.ID {
			t.Errorf("usage of llm = %+v, want 2 calls by principal:%s", u, user.ID)
		}
		// The management API shows it to whoever may read the connection:
		// the hub's administrator, and the user through its project.
		for who, c := range map[string]*client.Client{"admin": e.admin, "the user": base} {
			project := map[string]string{"admin": "", "the user": "p1"}[who]
			cu, err := c.ConnectionUsage(ctx, "default", project, "llm")
			if err != nil || cu.Connection != "/hubs/default/connections/llm" || cu.Requests != 2 || len(cu.Callers) != 1 ||
				cu.Callers[0].Key != "principal:"+user.ID || cu.Callers[0].LastUsed == nil {
				t.Errorf("ConnectionUsage by %s = %+v, %v; want 2 calls by principal:%s", who, cu, err, user.ID)
			}
		}
		outsider := e.clientOf(e.principal("outsider"))
		var apiErr *client.Error
		if _, err := outsider.ConnectionUsage(ctx, "default", "", "llm"); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
			t.Errorf("ConnectionUsage by a principal who may not read the connection = %v, want 403", err)
		}
		if cu, err := e.admin.ConnectionUsage(ctx, "default", "p1", "partner"); err != nil || cu.Callers == nil {
			t.Errorf("ConnectionUsage of a connection not called yet = %+v, %v; want an empty list of callers", cu, err)
		}
	})

	t.Run("the gateway's rate limit", func(t *testing.T) {
		one := 1
		if _, err := e.admin.UpdateConnection(ctx, "default", "p1", "partner", client.ConnectionUpdate{Properties: client.ConnectionChanges{
			Proxy: &client.ConnectionProxy{RequestsPerMinute: &one}}}); err != nil {
			t.Fatal(err)
		}
		// The caller called partner once already this minute.
		resp := call(http.MethodGet, base.ConnectionProxyURL("default", "p1", "partner")+"/", "")
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("a second call in the minute = %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		select {
		case s := <-got:
			t.Errorf("a throttled call reached the upstream: %+v", s)
		default:
		}
	})

	t.Run("refused without the proxy action", func(t *testing.T) {
		reader := e.principal("reader", grant{"Reader", "/hubs/default"})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base.ConnectionProxyURL("default", "", "llm")+"/x", nil)
		req.Header.Set("Authorization", "Bearer "+e.token(reader, client.ManagementAudience))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("proxy as a Reader = %d, want 403", resp.StatusCode)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base.ConnectionProxyURL("default", "", "llm")+"/x", nil)
		resp, err = hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("proxy without a token = %d, want 401", resp.StatusCode)
		}
		select {
		case s := <-got:
			t.Errorf("a refused call reached the upstream: %+v", s)
		default:
		}
	})

	t.Run("the client never sent the credential", func(t *testing.T) {
		for _, x := range e.recorder.all() {
			if !strings.Contains(x.url, "/proxy/") {
				continue
			}
			if strings.Contains(fmt.Sprint(x.reqHeader), key) || bytes.Contains(x.reqBody, []byte(key)) ||
				strings.Contains(fmt.Sprint(x.reqHeader), "partner-token") {
				t.Errorf("%s %s: the client sent the connection's credential", x.method, x.url)
			}
			if bytes.Contains(x.body, []byte(key)) || strings.Contains(fmt.Sprint(x.header), key) {
				t.Errorf("%s %s: the answer holds the connection's credential", x.method, x.url)
			}
		}
	})

	t.Run("each call is audited with the connection and its secret read", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var calls, reads int
			for _, ev := range e.auditEvents() {
				switch {
				case ev.Operation == access.ConnectionsProxy && ev.Result != audit.Denied: // the upstream's 418s are "failed"
					if ev.Scope != "/hubs/default/connections/llm" && ev.Scope != "/hubs/default/projects/p1/connections/partner" {
						t.Fatalf("proxy event at %s", ev.Scope)
					}
					calls++
				case ev.Operation == access.SecretsGet && strings.HasPrefix(ev.Reason, "proxy call of connection "):
					reads++
				}
			}
			if calls == 4 && reads == 4 { // 3 forwarded, 1 throttled after its credential was read
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d proxy events and %d secret reads, want 4 and 4", calls, reads)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestConnectionFollowsAccountRotation: an AIServices connection with ApiKey
// authentication and no key of its own hands out its account's active key,
// so that the account's rotation moves it with no step of its own; the read
// is recorded as a listKeys on behalf of the connection.
func TestConnectionFollowsAccountRotation(t *testing.T) {
	e := newConnEnv(t)
	ctx := e.ctx
	up := newUpstream(t)
	e.createAccount("rotating", up.URL+"/v1", "")
	if _, _, err := e.admin.PutConnection(ctx, "default", "", "ai", client.ConnectionDefinition{
		Category: "AIServices", AuthType: "ApiKey", Account: "rotating", Target: e.accountURL("rotating")}); err != nil {
		t.Fatal(err)
	}
	lister := e.clientOf(e.principal("lister", grant{e.secretsRole(), "/hubs/default"}))
	keyOf := func() string {
		t.Helper()
		c, err := lister.ListConnectionSecrets(ctx, "default", "", "ai")
		if err != nil || c.Properties.Credentials == nil {
			t.Fatalf("ListConnectionSecrets = %+v, %v", c, err)
		}
		return c.Properties.Credentials.Key
	}
	keys, err := e.admin.ListKeys(ctx, "rotating")
	if err != nil {
		t.Fatal(err)
	}
	if got := keyOf(); got != keys.Key1 {
		t.Fatal("the connection does not hand out key1, the account's active key")
	}
	// The rotation's first step moves consumers to key2; the next regenerates
	// key1, which the connection no longer hands out.
	for step := 0; step < 2; step++ {
		if _, err := e.admin.RotateKeys(ctx, "rotating", client.RotateKeysRequest{Force: true}); err != nil {
			t.Fatalf("RotateKeys step %d: %v", step+1, err)
		}
	}
	after, err := e.admin.ListKeys(ctx, "rotating")
	if err != nil {
		t.Fatal(err)
	}
	if after.Key1 == keys.Key1 {
		t.Fatal("two rotation steps did not regenerate key1")
	}
	if got := keyOf(); got != keys.Key2 || got != after.Key2 {
		t.Error("during the rotation the connection does not hand out key2")
	}
	var reads int
	for _, ev := range e.auditEvents() {
		if ev.Operation == access.AccountsListKeys && strings.Contains(ev.Reason, "listsecrets of connection /hubs/default/connections/ai") {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("%d audit events of the connection's account-key reads, want 2", reads)
	}
}
