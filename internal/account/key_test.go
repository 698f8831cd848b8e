package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// TestAuthenticateKey: either key of the account authenticates, naming which;
// a wrong key, another account's key or no key does not, and the answer never
// echoes what was sent.
func TestAuthenticateKey(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.create("aoai", "")
	e.create("other", "")
	ks, others := e.listKeys("aoai"), e.listKeys("other")
	cases := []struct {
		name, account, key string
		want               string // key name, or "" for refused
		kind               errs.Kind
	}{
		{"key1", "aoai", ks.Key1.Reveal(), store.Key1, 0},
		{"key2", "aoai", ks.Key2.Reveal(), store.Key2, 0},
		{"account name in upper case", "AOAI", ks.Key1.Reveal(), store.Key1, 0},
		{"wrong key", "aoai", strings.Repeat("0", 64), "", errs.Unauthenticated},
		{"another account's key", "aoai", others.Key1.Reveal(), "", errs.Unauthenticated},
		{"key with a space", "aoai", ks.Key1.Reveal() + " ", "", errs.Unauthenticated},
		{"no key", "aoai", "", "", errs.Unauthenticated},
		{"a megabyte", "aoai", strings.Repeat(ks.Key1.Reveal(), 1<<14), "", errs.Unauthenticated},
		{"unknown account", "nope", ks.Key1.Reveal(), "", errs.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.accounts.AuthenticateKey(ctx, tc.account, tc.key, "10.0.0.1")
			if tc.want == "" {
				wantKind(t, "AuthenticateKey", err, tc.kind)
				if tc.key != "" && strings.Contains(err.Error(), tc.key) {
					t.Errorf("the error shows the key: %v", err)
				}
				return
			}
			if err != nil || c.Key != tc.want || c.Account != "aoai" || c.Via != account.ViaKey || c.Scope != "/hubs/default/accounts/aoai" {
				t.Errorf("AuthenticateKey = %+v, %v; want %s", c, err, tc.want)
			}
		})
	}
}

// TestRegenerate: after regenerating key1, key1 and every token minted from
// it are refused at once, while key2 and its tokens work; Azure's spelling
// Key1 is accepted.
func TestRegenerate(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.create("aoai", "")
	before := e.listKeys("aoai")
	tok1 := e.token("aoai", before.Key1)
	tok2 := e.token("aoai", before.Key2)

	after, err := e.accounts.RegenerateKey(ctx, e.admin, "aoai", "Key1")
	if err != nil {
		t.Fatalf("RegenerateKey(Key1) = %v", err)
	}
	if after.Key1 == before.Key1 || after.Key2 != before.Key2 {
		t.Errorf("RegenerateKey(Key1) changed key1 %v, key2 %v; want only key1", after.Key1 != before.Key1, after.Key2 != before.Key2)
	}
	checks := []struct {
		name string
		call func() error
		ok   bool
	}{
		{"old key1", func() error { return e.authKey("aoai", before.Key1) }, false},
		{"token of old key1", func() error { return e.authToken("aoai", tok1) }, false},
		{"key2", func() error { return e.authKey("aoai", before.Key2) }, true},
		{"token of key2", func() error { return e.authToken("aoai", tok2) }, true},
		{"new key1", func() error { return e.authKey("aoai", after.Key1) }, true},
		{"token of new key1", func() error { return e.authToken("aoai", e.token("aoai", after.Key1)) }, true},
	}
	for _, c := range checks {
		err := c.call()
		switch {
		case c.ok && err != nil:
			t.Errorf("%s = %v, want it to work", c.name, err)
		case !c.ok && errs.KindOf(err) != errs.Unauthenticated:
			t.Errorf("%s = %v, want Unauthenticated", c.name, err)
		}
	}
	if _, err := e.accounts.RegenerateKey(ctx, e.admin, "aoai", "key3"); errs.KindOf(err) != errs.Invalid {
		t.Errorf("RegenerateKey(key3) = %v, want Invalid", err)
	}
}

// TestTokenLifetime: an STS token works until 10 minutes after it was
// issued, and not from then on (injected clock).
func TestTokenLifetime(t *testing.T) {
	e := newEnv(t)
	e.create("aoai", "")
	ks := e.listKeys("aoai")
	c, err := e.accounts.AuthenticateKey(t.Context(), "aoai", ks.Key1.Reveal(), "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tok, expires, err := e.accounts.IssueToken(c)
	if err != nil || !expires.Equal(e.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("IssueToken = %v, expires %v; want 10 minutes from now", err, expires)
	}
	if !account.IsToken(tok) {
		t.Errorf("IsToken(an STS token) = false")
	}
	e.clock.Advance(10*time.Minute - time.Second)
	if err := e.authToken("aoai", tok); err != nil {
		t.Errorf("the token after 9m59s = %v, want it to work", err)
	}
	e.clock.Advance(time.Second)
	err = e.authToken("aoai", tok)
	if errs.KindOf(err) != errs.Unauthenticated || !strings.Contains(errs.Message(err), "expired") {
		t.Errorf("the token after 10m = %v, want Unauthenticated saying it expired", err)
	}
	if _, _, err := e.accounts.IssueToken(account.Caller{Account: "aoai", Key: store.Key1, Via: account.ViaToken}); errs.KindOf(err) != errs.Invalid {
		t.Errorf("IssueToken for a token caller = %v, want Invalid", err)
	}
}

// TestTokenForgeries: tokens not made by this installation for this account
// and key are refused.
func TestTokenForgeries(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.create("aoai", "")
	e.create("other", "")
	good := e.token("aoai", e.listKeys("aoai").Key1)
	otherAccount := e.token("other", e.listKeys("other").Key1)
	// Another installation (another token key) signs a token for the same
	// account name.
	e2 := newEnv(t)
	e2.create("aoai", "")
	foreign := e2.token("aoai", e2.listKeys("aoai").Key1)
	parts := strings.Split(good, ".")
	cases := map[string]string{
		"another account's token":      otherAccount,
		"another installation's token": foreign,
		"altered payload":              parts[0] + "." + parts[1] + "x." + parts[2],
		"no signature":                 parts[0] + "." + parts[1] + ".",
		"alg none":                     "eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"garbage":                      "not a token",
		"empty":                        "",
	}
	for name, tok := range cases {
		_, err := e.accounts.AuthenticateToken(ctx, "aoai", tok, "10.0.0.1")
		wantKind(t, name, err, errs.Unauthenticated)
	}
	if err := e.authToken("aoai", good); err != nil {
		t.Errorf("the good token = %v", err)
	}
}

// TestKeyUses: each use of each key by each caller and way is recorded, the
// uses of a value are forgotten once it is regenerated, and this replica's
// uses are visible at once.
func TestKeyUses(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.create("aoai", "")
	ks := e.listKeys("aoai")
	t0 := e.clock.Now()
	use := func(key account.Key, addr string) {
		t.Helper()
		if _, err := e.accounts.AuthenticateKey(ctx, "aoai", key.Reveal(), addr); err != nil {
			t.Fatal(err)
		}
	}
	use(ks.Key1, "10.0.0.1")
	e.clock.Advance(time.Minute)
	use(ks.Key1, "10.0.0.1")
	use(ks.Key2, "10.0.0.2")
	c, _ := e.accounts.AuthenticateKey(ctx, "aoai", ks.Key2.Reveal(), "10.0.0.3")
	tok, _, _ := e.accounts.IssueToken(c)
	if _, err := e.accounts.AuthenticateToken(ctx, "aoai", tok, "10.0.0.4"); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Minute)
	want := []account.KeyUse{
		{Key: store.Key1, Caller: "10.0.0.1", Via: account.ViaKey, LastUsed: t1},
		{Key: store.Key2, Caller: "10.0.0.2", Via: account.ViaKey, LastUsed: t1},
		{Key: store.Key2, Caller: "10.0.0.3", Via: account.ViaKey, LastUsed: t1},
		{Key: store.Key2, Caller: "10.0.0.4", Via: account.ViaToken, LastUsed: t1},
	}
	got, err := e.accounts.KeyUses(ctx, e.admin, "aoai")
	if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(0)); err != nil || diff != "" {
		t.Errorf("KeyUses = %v; mismatch (-want +got):\n%s", err, diff)
	}
	if _, err := e.accounts.RegenerateKey(ctx, e.admin, "aoai", store.Key2); err != nil {
		t.Fatal(err)
	}
	got, err = e.accounts.KeyUses(ctx, e.admin, "aoai")
	if diff := cmp.Diff(want[:1], got, cmpopts.EquateApproxTime(0)); err != nil || diff != "" {
		t.Errorf("KeyUses after regenerating key2 = %v; mismatch (-want +got):\n%s", err, diff)
	}
}

// authKey authenticates with key at account.
func (e *env) authKey(name string, key account.Key) error {
	_, err := e.accounts.AuthenticateKey(context.Background(), name, key.Reveal(), "10.0.0.1")
	return err
}

// authToken authenticates with an STS token at account.
func (e *env) authToken(name, tok string) error {
	_, err := e.accounts.AuthenticateToken(context.Background(), name, tok, "10.0.0.1")
	return err
}

// token mints an STS token with key at account.
func (e *env) token(name string, key account.Key) string {
	e.t.Helper()
	c, err := e.accounts.AuthenticateKey(context.Background(), name, key.Reveal(), "10.0.0.1")
	if err != nil {
		e.t.Fatalf("AuthenticateKey(%s) = %v", name, err)
	}
	tok, _, err := e.accounts.IssueToken(c)
	if err != nil {
		e.t.Fatalf("IssueToken = %v", err)
	}
	return tok
}

// TestDisableLocalAuth: with DisableLocalAuth the account's keys and the STS
// tokens minted from them are refused (Forbidden, ErrLocalAuthDisabled), a
// wrong key the same way, so the answer tells nothing of the key; the keys
// stay and work again once it is turned off.
func TestDisableLocalAuth(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.create("aoai", "")
	ks := e.listKeys("aoai")
	tok := e.token("aoai", ks.Key1)
	set := func(v bool) {
		t.Helper()
		a, err := e.accounts.Update(ctx, e.admin, "aoai", account.Spec{DisableLocalAuth: &v})
		if err != nil || a.DisableLocalAuth != v {
			t.Fatalf("Update(DisableLocalAuth %v) = %v, %v", v, a.DisableLocalAuth, err)
		}
	}
	set(true)
	for name, try := range map[string]func() error{
		"key1": func() error {
			_, err := e.accounts.AuthenticateKey(ctx, "aoai", ks.Key1.Reveal(), "10.0.0.1")
			return err
		},
		"a wrong key": func() error { _, err := e.accounts.AuthenticateKey(ctx, "aoai", "nope", "10.0.0.1"); return err },
		"a token":     func() error { _, err := e.accounts.AuthenticateToken(ctx, "aoai", tok, "10.0.0.1"); return err },
	} {
		err := try()
		if errs.KindOf(err) != errs.Forbidden || !errors.Is(err, account.ErrLocalAuthDisabled) || !strings.Contains(errs.Message(err), "Entra token") {
			t.Errorf("%s under DisableLocalAuth = %v, want Forbidden (ErrLocalAuthDisabled) pointing to Entra tokens", name, err)
		}
	}
	if got := e.listKeys("aoai"); got != ks {
		t.Error("the keys changed under DisableLocalAuth")
	}
	set(false)
	if _, err := e.accounts.AuthenticateKey(ctx, "aoai", ks.Key1.Reveal(), "10.0.0.1"); err != nil {
		t.Errorf("key1 once keys are back = %v", err)
	}
	if _, err := e.accounts.AuthenticateToken(ctx, "aoai", tok, "10.0.0.1"); err != nil {
		t.Errorf("the token once keys are back = %v", err)
	}
}
