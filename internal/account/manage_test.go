package account_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// TestCreate: an account gets an identity, two distinct random keys, and its
// upstream key sealed in the hub's vault, which its identity (and only the
// account, through Credential) reads.
func TestCreate(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.create("aoai", "sk-upstream-7f3a")
	if a.Scope != "/hubs/default/accounts/aoai" || a.Hub != "default" || a.Kind != account.KindOpenAI || a.ActiveKey != store.Key1 {
		t.Errorf("Put = %+v", a)
	}
	if a.Upstream.Auth != account.AuthKey || a.Upstream.Vault != "default" || a.Upstream.Secret != "account-aoai-upstream" ||
		a.Upstream.KeyHeader != account.HeaderAuthorization || a.Upstream.URL != "http://127.0.0.1:9/v1" {
		t.Errorf("Put upstream = %+v", a.Upstream)
	}
	mi, err := e.ids.Principal(ctx, a.Identity.PrincipalID)
	if err != nil || mi.Kind != store.ManagedIdentity || mi.Scope != a.Scope || mi.AppID != a.Identity.ClientID {
		t.Errorf("the account's identity = %+v, %v", mi, err)
	}
	ks := e.listKeys("aoai")
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	if !hex64.MatchString(ks.Key1.Reveal()) || !hex64.MatchString(ks.Key2.Reveal()) || ks.Key1 == ks.Key2 {
		t.Errorf("keys are not two distinct 256-bit hex values")
	}
	// The upstream key is a secret of vault default, readable by the
	// account's identity, which is what Credential does.
	cred, err := e.accounts.Credential(ctx, a, "localhost")
	if err != nil || cred.Header != "Authorization" || cred.Value.Reveal() != "Bearer sk-upstream-7f3a" {
		t.Errorf("Credential = %q, %v", cred.Header, err)
	}
	b, err := e.vault.Get(ctx, e.admin, "default", "account-aoai-upstream", "")
	if err != nil || string(b.Value.Reveal()) != "sk-upstream-7f3a" {
		t.Errorf("the vault's secret = %v", err)
	}
	// Nothing prints a key.
	for _, s := range []string{fmtAll(ks), fmtAll(cred)} {
		if strings.Contains(s, ks.Key1.Reveal()) || strings.Contains(s, "sk-upstream") {
			t.Errorf("a key prints: %s", s)
		}
	}

	again, created, err := e.accounts.Put(ctx, e.admin, "default", "aoai", account.Spec{})
	if err != nil || created || again.Identity != a.Identity {
		t.Errorf("Put of an existing account without changes = %+v, created %v, %v", again, created, err)
	}
	if _, err := e.access.CreateResource(ctx, e.admin, "/hubs/second"); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.accounts.Put(ctx, e.admin, "second", "aoai", account.Spec{})
	wantKind(t, "Put of the same name in another hub", err, errs.Conflict)
}

// TestUpdate changes the upstream: a new key is a new version of the same
// secret; identity auth needs no key; deployments and limits are kept.
func TestUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.create("aoai", "sk-one")
	k := account.NewKey("sk-two")
	a, err := e.accounts.Update(ctx, e.admin, "aoai", account.Spec{UpstreamKey: &k, KeyHeader: ptr(account.HeaderAPIKey),
		Deployments: &map[string]string{"gpt": "gpt-4o-mini"}, Limits: &account.Limits{RequestsPerMinute: 60}})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := e.accounts.Credential(ctx, a, "localhost")
	if err != nil || cred.Header != "api-key" || cred.Value.Reveal() != "sk-two" {
		t.Errorf("Credential after update = %q, %v", cred.Header, err)
	}
	if got, err := e.accounts.Get(ctx, e.admin, "AOAI"); err != nil || got.Deployments["gpt"] != "gpt-4o-mini" || got.Limits.RequestsPerMinute != 60 {
		t.Errorf("Get = %+v, %v", got, err)
	}
	secret := a.Upstream.Secret
	a, err = e.accounts.Update(ctx, e.admin, "aoai", account.Spec{UpstreamAuth: ptr(account.AuthIdentity)})
	if err != nil || a.Upstream.Audience != account.DefaultUpstreamAudience || a.Upstream.Secret != "" {
		t.Fatalf("Update to identity auth = %+v, %v", a.Upstream, err)
	}
	// The key it no longer uses is soft-deleted, and its identity's access to it goes.
	e.wantKeyGone(a.Identity.PrincipalID, secret)
	cred, err = e.accounts.Credential(ctx, a, "localhost:8443")
	if err != nil || !strings.HasPrefix(cred.Value.Reveal(), "Bearer ey") {
		t.Fatalf("Credential with identity auth = %v", err)
	}
	claims, err := e.ids.Verify(ctx, strings.TrimPrefix(cred.Value.Reveal(), "Bearer "), account.DefaultUpstreamAudience)
	if err != nil || claims.ObjectID != a.Identity.PrincipalID {
		t.Errorf("the identity token = %+v, %v; want one of the account's identity", claims, err)
	}
	a, err = e.accounts.Update(ctx, e.admin, "aoai", account.Spec{UpstreamAuth: ptr(account.AuthNone)})
	if cred, _ := e.accounts.Credential(ctx, a, "x"); err != nil || cred.Header != "" {
		t.Errorf("Credential with auth none = %q, %v", cred.Header, err)
	}
}

// TestSpecErrors: bad input is refused naming the field, before anything is
// created.
func TestSpecErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	key := account.NewKey("sk-x")
	empty := account.NewKey("")
	cases := []struct {
		name  string
		spec  account.Spec
		field string
		want  string
	}{
		{"kind", account.Spec{Kind: ptr("Speech")}, "kind", "OpenAI"},
		{"relative URL", account.Spec{UpstreamURL: ptr("api.openai.com/v1")}, "upstream.url", "absolute"},
		{"URL with credentials", account.Spec{UpstreamURL: ptr("https://u:p@x/v1")}, "upstream.url", "credentials"},
		{"URL with query", account.Spec{UpstreamURL: ptr("https://x/v1?k=1")}, "upstream.url", "no query"},
		{"key without URL", account.Spec{UpstreamKey: &key}, "upstream.url", "needs an upstream URL"},
		{"auth key without key", account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamAuth: ptr(account.AuthKey)}, "upstream.key", "needs the upstream's key"},
		{"empty key", account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamKey: &empty}, "upstream.key", "empty"},
		{"key with auth none", account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamKey: &key, UpstreamAuth: ptr(account.AuthNone)}, "upstream.auth", "none"},
		{"key header", account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamKey: &key, KeyHeader: ptr("x-key")}, "upstream.keyHeader", "api-key"},
		{"auth", account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamAuth: ptr("basic")}, "upstream.auth", "is not one of"},
		{"deployment", account.Spec{Deployments: &map[string]string{"a/b": "m"}}, "deployments", "without '/'"},
		{"limits", account.Spec{Limits: &account.Limits{TokensPerMinute: -1}}, "limits", "per minute"},
		{"unknown vault", account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamKey: &key, Vault: "nope"}, "upstream.vault", "has no vault nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.accounts.Put(ctx, e.admin, "default", "bad", tc.spec)
			var ee *errs.Error
			if !errorsAs(err, &ee) || ee.Kind != errs.Invalid || ee.Field != tc.field || !strings.Contains(ee.Msg, tc.want) {
				t.Errorf("Put = %v; want Invalid on %s saying %q", err, tc.field, tc.want)
			}
			if strings.Contains(errs.Message(err), "sk-x") {
				t.Errorf("the message shows the key: %v", err)
			}
		})
	}
	if _, err := e.accounts.Get(ctx, e.admin, "bad"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("a refused Put left an account behind: %v", err)
	}
	_, _, err := e.accounts.Put(ctx, e.admin, "default", "Bad_Name", account.Spec{})
	wantKind(t, "Put with a bad name", err, errs.Invalid)
}

// TestVaultChoice: without a vault named, the hub's only vault keeps the
// key; with several, the caller must name one; a vault of another hub is
// refused.
func TestVaultChoice(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, sc := range []string{"/hubs/default/vaults/second", "/hubs/other", "/hubs/other/vaults/elsewhere"} {
		if _, err := e.access.CreateResource(ctx, e.admin, sc); err != nil {
			t.Fatal(err)
		}
	}
	key := account.NewKey("sk-x")
	spec := account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamKey: &key}
	_, _, err := e.accounts.Put(ctx, e.admin, "default", "a1", spec)
	if errs.KindOf(err) != errs.Invalid || !strings.Contains(errs.Message(err), "several vaults (default, second)") {
		t.Errorf("Put in a hub of two vaults = %v", err)
	}
	spec.Vault = "elsewhere"
	_, _, err = e.accounts.Put(ctx, e.admin, "default", "a1", spec)
	wantKind(t, "Put with another hub's vault", err, errs.Invalid)
	spec.Vault = "second"
	a, _, err := e.accounts.Put(ctx, e.admin, "default", "a1", spec)
	if err != nil || a.Upstream.Vault != "second" {
		t.Fatalf("Put with --vault second = %+v, %v", a.Upstream, err)
	}
	if _, _, err := e.accounts.Put(ctx, e.admin, "other", "a2", account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamKey: &key}); err != nil {
		t.Errorf("Put in a hub of one vault = %v", err)
	}
}

// TestAuthorization: each operation asks for its action at the account;
// keeping an upstream key needs rights on the vault too, checked before
// anything is created.
func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.create("aoai", "sk-x")
	reader := e.principal("reader", "Reader")
	contributor := e.principal("cs-contributor", "Cognitive Services Contributor")
	stranger := e.principal("stranger")
	calls := []struct {
		name string
		call func(who string) error
	}{
		{"Get", func(who string) error { _, err := e.accounts.Get(ctx, who, "aoai"); return err }},
		{"ListKeys", func(who string) error { _, err := e.accounts.ListKeys(ctx, who, "aoai"); return err }},
		{"RegenerateKey", func(who string) error { _, err := e.accounts.RegenerateKey(ctx, who, "aoai", "key2"); return err }},
		{"Update", func(who string) error {
			_, err := e.accounts.Update(ctx, who, "aoai", account.Spec{Limits: &account.Limits{}})
			return err
		}},
		{"KeyUses", func(who string) error { _, err := e.accounts.KeyUses(ctx, who, "aoai"); return err }},
	}
	want := map[string]map[string]bool{ // who may
		"reader":         {"Get": true, "KeyUses": true},
		"cs-contributor": {"Get": true, "ListKeys": true, "RegenerateKey": true, "Update": true, "KeyUses": true},
		"stranger":       {},
	}
	for who, id := range map[string]string{"reader": reader, "cs-contributor": contributor, "stranger": stranger} {
		for _, c := range calls {
			err := c.call(id)
			if ok := err == nil; ok != want[who][c.name] {
				t.Errorf("%s by %s = %v, want allowed %v", c.name, who, err, want[who][c.name])
			} else if !ok && errs.KindOf(err) != errs.Forbidden {
				t.Errorf("%s by %s = %v, want Forbidden", c.name, who, err)
			}
		}
	}
	key := account.NewKey("sk-y")
	_, _, err := e.accounts.Put(ctx, contributor, "default", "second", account.Spec{UpstreamURL: ptr("https://x/v1"), UpstreamKey: &key})
	if errs.KindOf(err) != errs.Forbidden || !strings.Contains(errs.Message(err), access.SecretsSet) {
		t.Errorf("Put with an upstream key by a Cognitive Services Contributor = %v; want Forbidden naming %s", err, access.SecretsSet)
	}
	if _, err := e.accounts.Get(ctx, e.admin, "second"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("the refused Put created the account: %v", err)
	}
	if _, _, err := e.accounts.Put(ctx, contributor, "default", "second", account.Spec{}); err != nil {
		t.Errorf("Put without an upstream key by a Cognitive Services Contributor = %v", err)
	}
	list, _, err := e.accounts.List(ctx, stranger, "", store.Page{})
	if err != nil || len(list) != 0 {
		t.Errorf("List by a stranger = %v, %v; want none", list, err)
	}
	list, _, err = e.accounts.List(ctx, reader, "default", store.Page{})
	if err != nil || len(list) != 2 || list[0].Name != "aoai" {
		t.Errorf("List by a reader = %+v, %v", list, err)
	}
}

// TestDelete: a deleted account's keys stop working at once, its identity is
// gone, and its name can be used again with new keys.
func TestDelete(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.create("aoai", "sk-x")
	ks := e.listKeys("aoai")
	tok := e.token("aoai", ks.Key1)
	if err := e.accounts.Delete(ctx, e.admin, "aoai"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	_, err := e.accounts.AuthenticateKey(ctx, "aoai", ks.Key1.Reveal(), "10.0.0.1")
	wantKind(t, "a key of the deleted account", err, errs.NotFound)
	if _, err := e.ids.Principal(ctx, a.Identity.PrincipalID); errs.KindOf(err) != errs.NotFound {
		t.Errorf("the deleted account's identity = %v, want NotFound", err)
	}
	e.create("aoai", "")
	_, err = e.accounts.AuthenticateKey(ctx, "aoai", ks.Key1.Reveal(), "10.0.0.1")
	wantKind(t, "the old account's key at the new account", err, errs.Unauthenticated)
	_, err = e.accounts.AuthenticateToken(ctx, "aoai", tok, "10.0.0.1")
	wantKind(t, "the old account's token at the new account", err, errs.Unauthenticated)
	if _, err := e.accounts.AuthenticateKey(ctx, "aoai", e.listKeys("aoai").Key1.Reveal(), "10.0.0.1"); err != nil {
		t.Errorf("the new account's key = %v", err)
	}
	wantKind(t, "Delete of an unknown account", e.accounts.Delete(ctx, e.admin, "nope"), errs.NotFound)
}

// TestDeleteUpstreamKey: deleting an account soft-deletes its upstream key
// and removes its identity's access to it; an account made again with that
// name recovers the secret and puts its own key on top.
func TestDeleteUpstreamKey(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.create("aoai", "sk-old")
	if err := e.accounts.Delete(ctx, e.admin, "aoai"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	e.wantKeyGone(a.Identity.PrincipalID, a.Upstream.Secret)

	again := e.create("aoai", "sk-new")
	if again.Upstream.Secret != a.Upstream.Secret {
		t.Fatalf("the new account's secret = %q, want %q again", again.Upstream.Secret, a.Upstream.Secret)
	}
	cred, err := e.accounts.Credential(ctx, again, "localhost")
	if err != nil || cred.Value.Reveal() != "Bearer sk-new" {
		t.Fatalf("the new account's upstream credential: %v (want its own key)", err)
	}
	if vs, _, err := e.vault.Versions(ctx, e.admin, "default", a.Upstream.Secret, store.Page{Limit: 10}); err != nil || len(vs) != 2 {
		t.Errorf("the recovered secret has %d versions (%v), want 2: the old key's and the new", len(vs), err)
	}
	// An account whose secret was deleted by hand is still deleted.
	if _, err := e.vault.Delete(ctx, e.admin, "default", a.Upstream.Secret); err != nil {
		t.Fatal(err)
	}
	if err := e.accounts.Delete(ctx, e.admin, "aoai"); err != nil {
		t.Errorf("Delete of an account whose key was deleted by hand = %v", err)
	}
}

// TestMoveUpstreamKey: a new upstream key kept in another vault of the hub
// leaves no copy of the old one behind: the old secret is soft-deleted and
// the identity's role moves with the key.
func TestMoveUpstreamKey(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.create("aoai", "sk-one")
	if _, err := e.access.CreateResource(ctx, e.admin, "/hubs/default/vaults/other"); err != nil {
		t.Fatal(err)
	}
	k := account.NewKey("sk-two")
	moved, err := e.accounts.Update(ctx, e.admin, "aoai", account.Spec{UpstreamKey: &k, Vault: "other"})
	if err != nil || moved.Upstream.Vault != "other" {
		t.Fatalf("Update to vault other = %+v, %v", moved.Upstream, err)
	}
	if cred, err := e.accounts.Credential(ctx, moved, "localhost"); err != nil || cred.Value.Reveal() != "Bearer sk-two" {
		t.Errorf("the credential after the move: %v (want the new key)", err)
	}
	if _, err := e.vault.GetDeleted(ctx, e.admin, "default", a.Upstream.Secret); err != nil {
		t.Errorf("the old secret in vault default: GetDeleted = %v, want it soft-deleted", err)
	}
	as, _, err := e.access.Assignments(ctx, store.AssignmentFilter{PrincipalID: a.Identity.PrincipalID}, store.Page{Limit: 10})
	if err != nil || len(as) != 1 || as[0].Scope != "/hubs/default/vaults/other/secrets/"+a.Upstream.Secret {
		t.Errorf("the identity's role assignments = %+v, %v; want one, on the secret in vault other", as, err)
	}
}

// TestDeleteNeedsSecretsDelete: a caller who may delete the account but not
// its upstream key deletes nothing, and is told what to ask for.
func TestDeleteNeedsSecretsDelete(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.create("aoai", "sk-x")
	ops := e.principal("ops", "Cognitive Services Contributor")
	err := e.accounts.Delete(ctx, ops, "aoai")
	wantKind(t, "Delete without secrets/delete on the upstream key", err, errs.Forbidden)
	if msg := errs.Message(err); !strings.Contains(msg, a.Upstream.Secret) || !strings.Contains(msg, "Key Vault Secrets Officer") {
		t.Errorf("the refusal %q should name the secret and the role to ask for", msg)
	}
	ks := e.listKeys("aoai")
	if _, err := e.accounts.AuthenticateKey(ctx, "aoai", ks.Key1.Reveal(), "10.0.0.1"); err != nil {
		t.Errorf("the account after a refused Delete: %v", err)
	}
	if cred, err := e.accounts.Credential(ctx, a, "localhost"); err != nil || cred.Value.Reveal() != "Bearer sk-x" {
		t.Errorf("the upstream key after a refused Delete: %v", err)
	}
	_, err = e.accounts.Update(ctx, ops, "aoai", account.Spec{UpstreamAuth: ptr(account.AuthNone)})
	wantKind(t, "Update dropping the key without secrets/delete", err, errs.Forbidden)
	if got, err := e.accounts.Get(ctx, e.admin, "aoai"); err != nil || got.Upstream.Secret != a.Upstream.Secret {
		t.Errorf("the account after a refused Update = %+v, %v", got.Upstream, err)
	}
}

// wantKeyGone checks that secret (an account's upstream key) is soft-deleted
// in vault default and that principalID holds no role there.
func (e *env) wantKeyGone(principalID, secret string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.vault.GetDeleted(ctx, e.admin, "default", secret); err != nil {
		e.t.Errorf("GetDeleted(%s) = %v, want the upstream key soft-deleted", secret, err)
	}
	as, _, err := e.access.Assignments(ctx, store.AssignmentFilter{PrincipalID: principalID}, store.Page{Limit: 100})
	if err != nil || len(as) != 0 {
		e.t.Errorf("role assignments of the account's identity = %+v, %v; want none", as, err)
	}
}
