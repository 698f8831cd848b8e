package connection_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/connection"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

func names(cs []*connection.Connection) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Scope)
	}
	return out
}

func wantKind(t *testing.T, what string, err error, k errs.Kind, msg string) {
	t.Helper()
	if !errs.Is(err, k) || !strings.Contains(errs.Message(err), msg) {
		t.Errorf("%s = %v (%s), want %s saying %q", what, err, errs.KindOf(err), k, msg)
	}
}

// TestVisibility: a project's members see their hub's shared connections and
// their project's own, never a sibling project's, in listings and by name.
func TestVisibility(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.keyVault()
	e.put(connection.Ref{Hub: "h", Name: "openai"}, connection.Definition{Category: connection.CategoryAzureOpenAI, Target: "https://aoai.example/"})
	e.put(connection.Ref{Hub: "h", Project: "p1", Name: "blob"}, connection.Definition{Category: connection.CategoryAzureBlob, Target: "https://acct.blob.core.windows.net/data"})
	e.put(connection.Ref{Hub: "h", Project: "p2", Name: "secret-api"}, connection.Definition{
		Category: connection.CategoryAPIKey, Target: "https://api.example/v1", Credentials: creds("key", "p2-only-key")})
	member := e.principal("member", grant{"Reader", "/hubs/h/projects/p1"})

	got, err := e.conns.List(ctx, member, "h", "p1")
	want := []string{"/hubs/h/connections/hub-vault", "/hubs/h/connections/openai", "/hubs/h/projects/p1/connections/blob"}
	if err != nil || !slices.Equal(names(got), want) {
		t.Errorf("List(member, p1) = %v, %v; want %v", names(got), err, want)
	}
	if got, err := e.conns.List(ctx, member, "h", ""); err != nil || len(got) != 0 {
		t.Errorf("List(member, hub) = %v, %v; want nothing: the member holds no role at the hub", names(got), err)
	}
	if got, err := e.conns.List(ctx, member, "h", "p2"); err != nil || len(got) != 0 {
		t.Errorf("List(member, p2) = %v, %v; want nothing", names(got), err)
	}
	shared, err := e.conns.Get(ctx, member, connection.Ref{Hub: "h", Project: "p1", Name: "openai"})
	if err != nil || shared.Scope != "/hubs/h/connections/openai" || !shared.Shared() {
		t.Errorf("Get(member, p1/openai) = %+v, %v; want the hub's shared connection", shared, err)
	}
	for _, ref := range []connection.Ref{
		{Hub: "h", Project: "p2", Name: "secret-api"}, // the sibling's, through the sibling
		{Hub: "h", Project: "p1", Name: "secret-api"}, // the sibling's, through the member's own project
		{Hub: "h", Name: "openai"},                    // the shared one, but at the hub, where the member holds nothing
	} {
		_, err := e.conns.Get(ctx, member, ref)
		if ref.Project == "p1" {
			wantKind(t, "Get(member, p1/secret-api)", err, errs.NotFound, "has a connection secret-api")
		} else {
			wantKind(t, "Get(member, "+ref.Scope()+")", err, errs.Forbidden, "is not allowed to perform "+access.ConnectionsRead)
		}
	}
	// A caller refused learns nothing of what exists: the same answer for a
	// connection that does not.
	_, err1 := e.conns.Get(ctx, member, connection.Ref{Hub: "h", Project: "p2", Name: "secret-api"})
	_, err2 := e.conns.Get(ctx, member, connection.Ref{Hub: "h", Project: "p2", Name: "nothing"})
	if strings.ReplaceAll(errs.Message(err1), "secret-api", "X") != strings.ReplaceAll(errs.Message(err2), "nothing", "X") {
		t.Errorf("refusals differ for an existing and a missing connection:\n%s\n%s", errs.Message(err1), errs.Message(err2))
	}
	for _, c := range got {
		if len(c.Credentials) != 0 {
			t.Errorf("List returned credentials for %s", c.Scope)
		}
	}
}

// TestKeyVaultConnection: a hub has exactly one; it names a vault of the hub
// and an identity the caller may act as, which may write the vault's secrets.
func TestKeyVaultConnection(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	kvDef := func(vaultName, identity string) connection.Definition {
		return connection.Definition{Category: connection.CategoryKeyVault, Vault: vaultName, Identity: identity}
	}
	// Credentials need a Key Vault connection.
	_, _, err := e.conns.Put(ctx, e.admin, connection.Ref{Hub: "h", Name: "api"}, connection.Definition{
		Category: connection.CategoryAPIKey, Target: "https://api.example", Credentials: creds("key", "k")})
	wantKind(t, "Put(ApiKey) without a Key Vault connection", err, errs.Conflict, "has no Key Vault connection")

	if _, err := e.ids.CreateManagedIdentity(ctx, "no-rights"); err != nil {
		t.Fatal(err)
	}
	operator := e.principal("operator", grant{"Contributor", "/hubs/h"})
	cases := []struct {
		name   string
		caller string
		ref    connection.Ref
		def    connection.Definition
		kind   errs.Kind
		msg    string
	}{
		{"in a project", e.admin, connection.Ref{Hub: "h", Project: "p1", Name: "kv"}, kvDef("kv", "h-vault"), errs.Invalid, "belongs to a hub"},
		{"vault of another hub", e.admin, connection.Ref{Hub: "h", Name: "kv"}, kvDef("elsewhere", "h-vault"), errs.NotFound, "hub h has no vault elsewhere"},
		{"missing identity", e.admin, connection.Ref{Hub: "h", Name: "kv"}, kvDef("kv", "ghost"), errs.NotFound, "managed identity ghost does not exist"},
		{"identity without vault rights", e.admin, connection.Ref{Hub: "h", Name: "kv"}, kvDef("kv", "no-rights"), errs.Invalid, "assign it Key Vault Secrets Officer"},
		{"caller who may not act as the identity", operator, connection.Ref{Hub: "h", Name: "kv"}, kvDef("kv", "h-vault"), errs.Forbidden, access.IdentitiesAssign},
		{"no vault", e.admin, connection.Ref{Hub: "h", Name: "kv"}, connection.Definition{Category: connection.CategoryKeyVault, Identity: "h-vault"}, errs.Invalid, "give vault"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.conns.Put(ctx, tc.caller, tc.ref, tc.def)
			wantKind(t, "Put", err, tc.kind, tc.msg)
		})
	}
	first := e.keyVault()
	if first.Kind != string(store.KeyVaultConnection) || first.Target != "kv" || len(first.Secrets) != 0 {
		t.Errorf("Key Vault connection = %+v", first)
	}
	_, _, err = e.conns.Put(ctx, e.admin, connection.Ref{Hub: "h", Name: "second"}, kvDef("kv", "h-vault"))
	wantKind(t, "a second Key Vault connection", err, errs.Conflict, "hub h has a Key Vault connection already, hub-vault (vault kv): a hub has exactly one")
	// Replacing the one there is fine.
	if _, created, err := e.conns.Put(ctx, e.admin, connection.Ref{Hub: "h", Name: "hub-vault"}, kvDef("kv", "h-vault")); err != nil || created {
		t.Errorf("Put(the same Key Vault connection) = created %v, %v", created, err)
	}
	// While a connection keeps credentials in the vault, the Key Vault
	// connection cannot go, nor change vault.
	e.put(connection.Ref{Hub: "h", Project: "p1", Name: "api"}, connection.Definition{Category: connection.CategoryAPIKey, Target: "https://api.example", Credentials: creds("key", "k")})
	err = e.conns.Delete(ctx, e.admin, connection.Ref{Hub: "h", Name: "hub-vault"})
	wantKind(t, "Delete(Key Vault connection in use)", err, errs.Conflict, "/hubs/h/projects/p1/connections/api")
	if err := e.conns.Delete(ctx, e.admin, connection.Ref{Hub: "h", Project: "p1", Name: "api"}); err != nil {
		t.Fatal(err)
	}
	if err := e.conns.Delete(ctx, e.admin, connection.Ref{Hub: "h", Name: "hub-vault"}); err != nil {
		t.Errorf("Delete(unused Key Vault connection) = %v", err)
	}
}

// TestCredentialsLiveInTheVault: the record holds references only; the vault
// holds the values, tagged with their connection; replacing, updating and
// deleting the connection keep the vault in step.
func TestCredentialsLiveInTheVault(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.keyVault()
	ref := connection.Ref{Hub: "h", Project: "p1", Name: "partner"}
	c := e.put(ref, connection.Definition{Category: connection.CategoryCustomKeys, Target: "https://partner.example",
		Credentials: creds("keys.api_token", "canary-token-1", "keys.org", "canary-org-1")})
	if len(c.Secrets) != 2 || c.Secrets[0].Field != "keys.api_token" || c.Secrets[0].Vault != "kv" ||
		!strings.HasPrefix(c.Secrets[0].Name, "conn-p1-partner-key-api-token-") {
		t.Fatalf("Secrets = %+v", c.Secrets)
	}
	rec, err := e.db.Resource(ctx, "/hubs/h/projects/p1/connections/partner")
	if err != nil || bytes.Contains(rec.Properties, []byte("canary")) {
		t.Fatalf("stored record = %s, %v; want references only", rec.Properties, err)
	}
	b, err := e.vault.Get(ctx, e.admin, "kv", c.Secrets[0].Name, "")
	if err != nil || string(b.Value.Reveal()) != "canary-token-1" || b.Tags["latchkey-connection"] != c.Scope || b.Tags["latchkey-field"] != "keys.api_token" {
		t.Fatalf("vault secret = %+v, %v", b, err)
	}
	// PATCH merges credentials field by field.
	if _, err := e.conns.Update(ctx, e.admin, ref, connection.Patch{Credentials: creds("keys.api_token", "canary-token-2")}); err != nil {
		t.Fatal(err)
	}
	lister := e.principal("lister", grant{e.secretsReaderRole(), "/hubs/h"})
	_, got, err := e.conns.ListSecrets(ctx, caller(lister), ref)
	if err != nil || string(got["keys.api_token"].Reveal()) != "canary-token-2" || string(got["keys.org"].Reveal()) != "canary-org-1" {
		t.Fatalf("after Update: %v, %v", got, err)
	}
	// PUT without credentials keeps them; PUT with fewer deletes the rest.
	def := connection.Definition{Category: connection.CategoryCustomKeys, Target: "https://partner.example/v2"}
	if c, created, err := e.conns.Put(ctx, e.admin, ref, def); err != nil || created || len(c.Secrets) != 2 || c.Target != "https://partner.example/v2" {
		t.Fatalf("Put without credentials = %+v, %v, %v", c, created, err)
	}
	def.Credentials = creds("keys.api_token", "canary-token-3")
	c, _, err = e.conns.Put(ctx, e.admin, ref, def)
	if err != nil || len(c.Secrets) != 1 {
		t.Fatalf("Put with one credential = %+v, %v", c, err)
	}
	orgSecret := "conn-p1-partner-key-org-" + c.Secrets[0].Name[len(c.Secrets[0].Name)-8:]
	if _, err := e.vault.Get(ctx, e.admin, "kv", orgSecret, ""); !errs.Is(err, errs.NotFound) {
		t.Errorf("the secret of the dropped credential = %v, want deleted", err)
	}
	// Deleting the connection deletes its secrets (recoverably).
	if err := e.conns.Delete(ctx, e.admin, ref); err != nil {
		t.Fatal(err)
	}
	if d, err := e.vault.GetDeleted(ctx, e.admin, "kv", c.Secrets[0].Name); err != nil || d.Deleted.IsZero() {
		t.Errorf("GetDeleted(%s) = %+v, %v; want a recoverable secret", c.Secrets[0].Name, d, err)
	}
	// The same name again gets new secrets, not the deleted ones.
	again := e.put(ref, connection.Definition{Category: connection.CategoryCustomKeys, Credentials: creds("keys.api_token", "canary-token-4")})
	if again.Secrets[0].Name == c.Secrets[0].Name {
		t.Errorf("a connection created again reuses the secret %s of the deleted one", again.Secrets[0].Name)
	}
}

// TestListSecrets: refused without the data action, allowed with it; a
// Reader reads a credential-based datastore connection's credentials unless
// the hub turns it off; every secret read leaves one audit record naming the
// connection and the vault secret, and a refused caller leaves none.
func TestListSecrets(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.keyVault()
	api := connection.Ref{Hub: "h", Name: "api"}
	e.put(api, connection.Definition{Category: connection.CategoryAPIKey, Target: "https://api.example", Credentials: creds("key", "api-key-value")})
	blobRef := connection.Ref{Hub: "h", Project: "p1", Name: "blob"}
	blob := e.put(blobRef, connection.Definition{Category: connection.CategoryAzureBlob, Target: "https://acct.blob.core.windows.net/c",
		AuthType: connection.AuthServicePrincipal, Credentials: creds("clientId", "cid", "clientSecret", "blob-secret", "tenantId", "tid")})

	reader := e.principal("reader", grant{"Reader", "/hubs/h/projects/p1"})
	role := e.secretsReaderRole()
	lister := e.principal("lister", grant{role, "/hubs/h/projects/p1"})

	// A Reader may not list an ApiKey connection's credentials (reached
	// through its project)...
	_, _, err := e.conns.ListSecrets(ctx, caller(reader), connection.Ref{Hub: "h", Project: "p1", Name: "api"})
	wantKind(t, "ListSecrets(reader, api)", err, errs.Forbidden, access.ConnectionsListSecrets)
	// ...but the holder of the data action may.
	c, got, err := e.conns.ListSecrets(ctx, caller(lister), connection.Ref{Hub: "h", Project: "p1", Name: "api"})
	if err != nil || string(got["key"].Reveal()) != "api-key-value" || c.Scope != "/hubs/h/connections/api" {
		t.Fatalf("ListSecrets(lister, api) = %v, %v", got, err)
	}
	// A Reader reads the service principal of a datastore connection.
	_, got, err = e.conns.ListSecrets(ctx, caller(reader), blobRef)
	if err != nil || string(got["clientSecret"].Reveal()) != "blob-secret" || len(got) != 3 {
		t.Fatalf("ListSecrets(reader, blob) = %v, %v", got, err)
	}
	reads := e.events(access.SecretsGet)
	if len(reads) != 4 {
		t.Fatalf("%d secret-read audit records, want 4 (1 for api, 3 for blob): %+v", len(reads), reads)
	}
	for _, r := range reads {
		wantConn := "/hubs/h/connections/api"
		if r.PrincipalID == reader {
			wantConn = blob.Scope
		}
		if !strings.HasPrefix(r.Scope, "/hubs/h/vaults/kv/secrets/conn-") || !strings.Contains(r.Reason, "listsecrets of connection "+wantConn) ||
			r.Result != audit.Allowed || !strings.HasPrefix(r.CorrelationID, "req-") {
			t.Errorf("secret-read record = %+v; want the vault secret's scope and the connection %s", r.Event, wantConn)
		}
	}
	var scopes []string
	for _, r := range reads[1:] {
		scopes = append(scopes, r.Scope)
	}
	for _, s := range blob.Secrets {
		if !slices.Contains(scopes, "/hubs/h/vaults/kv/secrets/"+s.Name) {
			t.Errorf("no record names the vault secret %s of %s", s.Name, s.Field)
		}
	}
	// The hub turns readers' reads off on its Key Vault connection.
	off := false
	if _, err := e.conns.Update(ctx, e.admin, connection.Ref{Hub: "h", Name: "hub-vault"}, connection.Patch{ReadersReadDatastoreCredentials: &off}); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.conns.ListSecrets(ctx, caller(reader), blobRef)
	wantKind(t, "ListSecrets(reader, blob) with the hub setting off", err, errs.Forbidden, "does not let readers read datastore credentials")
	if _, _, err := e.conns.ListSecrets(ctx, caller(lister), blobRef); err != nil {
		t.Errorf("ListSecrets(lister, blob) with the hub setting off = %v", err)
	}
	if n := len(e.events(access.SecretsGet)); n != 7 {
		t.Errorf("%d secret-read records after the refusal and a 3-secret read, want 7", n)
	}
}

// TestProxyUpstream: the proxy's header, prefix and credential.
func TestProxyUpstream(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.keyVault()
	prefix := "Token "
	e.put(connection.Ref{Hub: "h", Name: "bearer"}, connection.Definition{Category: connection.CategoryAPIKey, Target: "https://api.example/v1", Credentials: creds("key", "k1")})
	e.put(connection.Ref{Hub: "h", Name: "custom"}, connection.Definition{Category: connection.CategoryCustomKeys, Target: "https://c.example",
		Credentials: creds("keys.a", "va", "keys.b", "vb"), Proxy: &connection.ProxyHeader{Header: "X-Api-Key", Key: "b"}})
	e.put(connection.Ref{Hub: "h", Name: "prefixed"}, connection.Definition{Category: connection.CategoryAPIKey, Target: "https://p.example",
		Credentials: creds("key", "k3"), Proxy: &connection.ProxyHeader{Prefix: &prefix, RequestsPerMinute: ptr(5), TokensPerMinute: ptr(1000)}})
	e.put(connection.Ref{Hub: "h", Name: "blob"}, connection.Definition{Category: connection.CategoryAzureBlob, Target: "https://b.example"})
	user := e.principal("user", grant{e.secretsReaderRole(), "/hubs/h"})
	cases := []struct {
		name, header, value, base string
	}{
		{"bearer", "Authorization", "Bearer k1", "https://api.example/v1"},
		{"custom", "X-Api-Key", "vb", "https://c.example"},
		{"prefixed", "Authorization", "Token k3", "https://p.example"},
	}
	for _, tc := range cases {
		up, err := e.conns.Proxy(ctx, caller(user), connection.Ref{Hub: "h", Project: "p2", Name: tc.name})
		if err != nil || up.Header != tc.header || string(up.Value.Reveal()) != tc.value || up.BaseURL != tc.base {
			t.Errorf("Proxy(%s) = %s %q %s, %v; want %s %q %s", tc.name, up.Header, up.Value.Reveal(), up.BaseURL, err, tc.header, tc.value, tc.base)
		}
	}
	if up, err := e.conns.Proxy(ctx, caller(user), connection.Ref{Hub: "h", Name: "prefixed"}); err != nil || up.RequestsPerMinute != 5 || up.TokensPerMinute != 1000 {
		t.Errorf("Proxy(prefixed) limits = %d, %d, %v; want 5, 1000", up.RequestsPerMinute, up.TokensPerMinute, err)
	}
	_, err := e.conns.Proxy(ctx, caller(user), connection.Ref{Hub: "h", Name: "blob"})
	wantKind(t, "Proxy(blob)", err, errs.Invalid, "only ApiKey and CustomKeys connections")
	reader := e.principal("reader", grant{"Reader", "/hubs/h"})
	_, err = e.conns.Proxy(ctx, caller(reader), connection.Ref{Hub: "h", Name: "bearer"})
	wantKind(t, "Proxy(reader)", err, errs.Forbidden, access.ConnectionsProxy)
}

// TestDefinitionChecks: what a definition may hold, with messages that name
// the field and never the credential.
func TestDefinitionChecks(t *testing.T) {
	e := newEnv(t)
	e.keyVault()
	if _, err := e.access.CreateResource(t.Context(), e.admin, "/hubs/h/accounts/ai"); err != nil {
		t.Fatal(err)
	}
	empty := ""
	cases := []struct {
		name  string
		def   connection.Definition
		field string
	}{
		{"unknown category", connection.Definition{Category: "Pinecone"}, "category"},
		{"auth type of another category", connection.Definition{Category: connection.CategoryAPIKey, AuthType: connection.AuthSAS, Target: "https://x"}, "authType"},
		{"no key", connection.Definition{Category: connection.CategoryAPIKey, Target: "https://x"}, "credentials.key"},
		{"unknown field", connection.Definition{Category: connection.CategoryAPIKey, Target: "https://x", Credentials: creds("key", "v", "pat", "SECRET-VALUE")}, "credentials.pat"},
		{"no target", connection.Definition{Category: connection.CategoryAPIKey, Credentials: creds("key", "v")}, "target"},
		{"target not a URL", connection.Definition{Category: connection.CategoryAPIKey, Target: "ftp://x", Credentials: creds("key", "v")}, "target"},
		{"custom key name", connection.Definition{Category: connection.CategoryCustomKeys, Credentials: creds("keys.a b", "SECRET-VALUE")}, "credentials.keys.a b"},
		{"no custom keys", connection.Definition{Category: connection.CategoryCustomKeys}, "credentials.keys"},
		{"proxy on a datastore", connection.Definition{Category: connection.CategoryAzureBlob, Target: "https://b", Proxy: &connection.ProxyHeader{}}, "proxy"},
		{"proxy header Host", connection.Definition{Category: connection.CategoryAPIKey, Target: "https://x", Credentials: creds("key", "v"), Proxy: &connection.ProxyHeader{Header: "Host"}}, "proxy.header"},
		{"proxy key not a secret", connection.Definition{Category: connection.CategoryCustomKeys, Credentials: creds("keys.a", "v"), Proxy: &connection.ProxyHeader{Key: "b"}}, "proxy.key"},
		{"proxy prefix with a line break", connection.Definition{Category: connection.CategoryAPIKey, Target: "https://x", Credentials: creds("key", "v"), Proxy: &connection.ProxyHeader{Prefix: ptr("a\nb")}}, "proxy.prefix"},
		{"AIServices without account", connection.Definition{Category: connection.CategoryAIServices}, "account"},
		{"account on ApiKey", connection.Definition{Category: connection.CategoryAPIKey, Target: "https://x", Credentials: creds("key", "v"), Account: "ai"}, "account"},
		{"hub setting on a datastore", connection.Definition{Category: connection.CategoryAzureBlob, Target: "https://b", ReadersReadDatastoreCredentials: &[]bool{false}[0]}, "readersReadDatastoreCredentials"},
		{"empty credential", connection.Definition{Category: connection.CategoryAzureBlob, Target: "https://b", AuthType: connection.AuthSAS, Credentials: creds("sas", empty)}, "credentials.sas"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.conns.Put(t.Context(), e.admin, connection.Ref{Hub: "h", Name: "c"}, tc.def)
			var ee *errs.Error
			if !errs.Is(err, errs.Invalid) || !asErr(err, &ee) || ee.Field != tc.field {
				t.Errorf("Put = %v (field %q), want Invalid naming %q", err, fieldOf(err), tc.field)
			}
			if strings.Contains(errs.Message(err), "SECRET-VALUE") {
				t.Errorf("the message quotes a credential: %s", errs.Message(err))
			}
		})
	}
	ai := e.put(connection.Ref{Hub: "h", Name: "ai"}, connection.Definition{Category: connection.CategoryAIServices, Account: "AI"})
	if ai.Account != "ai" || ai.AuthType != connection.AuthNone || ai.Metadata["ResourceId"] != "/hubs/h/accounts/ai" {
		t.Errorf("AIServices connection = %+v", ai.Definition)
	}
	_, _, err := e.conns.Put(t.Context(), e.admin, connection.Ref{Hub: "h", Name: "ai2"}, connection.Definition{Category: connection.CategoryAIServices, Account: "missing"})
	wantKind(t, "Put(AIServices, missing account)", err, errs.NotFound, "has no AI services account missing")
}

func ptr[T any](v T) *T { return &v }

func asErr(err error, target **errs.Error) bool {
	e, ok := err.(*errs.Error)
	if ok {
		*target = e
	}
	return ok
}

func fieldOf(err error) string {
	if e, ok := err.(*errs.Error); ok {
		return e.Field
	}
	return ""
}

// TestNames: names are ASCII; nothing folds into them.
func TestNames(t *testing.T) {
	e := newEnv(t)
	for _, ref := range []connection.Ref{
		{Hub: "h", Name: "\u212aey"}, // KELVIN SIGN would fold to "k"
		{Hub: "\u212a", Name: "c"},
		{Hub: "h", Project: "p1", Name: "a/b"},
		{Hub: "h", Name: strings.Repeat("a", 64)},
		{Hub: "h", Name: ""},
	} {
		_, _, err := e.conns.Put(t.Context(), e.admin, ref, connection.Definition{Category: connection.CategoryAzureBlob, Target: "https://b"})
		if !errs.Is(err, errs.Invalid) && !errs.Is(err, errs.Forbidden) {
			t.Errorf("Put(%q) = %v, want Invalid", ref, err)
		}
		if _, err := e.conns.Get(t.Context(), e.admin, ref); !errs.Is(err, errs.Invalid) {
			t.Errorf("Get(%q) = %v, want Invalid", ref, err)
		}
	}
	c := e.put(connection.Ref{Hub: "H", Project: "P1", Name: "Blob-1"}, connection.Definition{Category: connection.CategoryAzureBlob, Target: "https://b"})
	if c.Scope != "/hubs/h/projects/p1/connections/blob-1" || c.Name != "blob-1" {
		t.Errorf("Put(mixed case) = %s %s", c.Scope, c.Name)
	}
}
