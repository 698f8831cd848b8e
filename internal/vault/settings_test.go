package vault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/vault"
)

// TestUpdateSettingsValidation: retention is 7 to 90 days, purge protection
// cannot be turned off once on, address ranges must parse as CIDR (and are
// stored masked), a caller needs VaultsWrite, and a refused update changes
// nothing.
func TestUpdateSettingsValidation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		u     vault.SettingsUpdate
		field string // "" when the update is valid
	}{
		{"retention 6", vault.SettingsUpdate{RetentionDays: ptr(6)}, "retentionDays"},
		{"retention 91", vault.SettingsUpdate{RetentionDays: ptr(91)}, "retentionDays"},
		{"retention 0", vault.SettingsUpdate{RetentionDays: ptr(0)}, "retentionDays"},
		{"retention 7", vault.SettingsUpdate{RetentionDays: ptr(7)}, ""},
		{"retention 90", vault.SettingsUpdate{RetentionDays: ptr(90)}, ""},
		{"address without a prefix length", vault.SettingsUpdate{NetworkAllow: &[]string{"10.0.0.0/8", "10.0.0.1"}}, "networkAllow[1]"},
		{"not an address", vault.SettingsUpdate{NetworkAllow: &[]string{"intranet"}}, "networkAllow[0]"},
		{"prefix too long", vault.SettingsUpdate{NetworkAllow: &[]string{"10.0.0.0/33"}}, "networkAllow[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := e.vault.Settings(ctx, e.admin, "other")
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.vault.UpdateSettings(ctx, e.admin, "other", tc.u)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("UpdateSettings = %v, want nil", err)
				}
				return
			}
			var ee *errs.Error
			if !errors.As(err, &ee) || ee.Kind != errs.Invalid || ee.Field != tc.field {
				t.Fatalf("UpdateSettings = %#v, want Kind Invalid on field %s", err, tc.field)
			}
			after, err := e.vault.Settings(ctx, e.admin, "other")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(before, after); d != "" {
				t.Errorf("a refused update changed the settings (-before +after):\n%s", d)
			}
		})
	}

	// Ranges are trimmed and masked; IPv6 works too.
	got, err := e.vault.UpdateSettings(ctx, e.admin, "other", vault.SettingsUpdate{NetworkAllow: &[]string{" 192.168.1.7/24 ", "fd00::1/64"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"192.168.1.0/24", "fd00::/64"}; !cmp.Equal(got.NetworkAllow, want) {
		t.Errorf("NetworkAllow = %q, want %q", got.NetworkAllow, want)
	}

	// Purge protection: on, then off is refused, then on again is fine.
	if _, err := e.vault.UpdateSettings(ctx, e.admin, "other", vault.SettingsUpdate{PurgeProtection: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.vault.UpdateSettings(ctx, e.admin, "other", vault.SettingsUpdate{PurgeProtection: ptr(false)})
	wantKind(t, "UpdateSettings(purge protection off)", err, errs.Invalid, "", "")
	if _, err := e.vault.UpdateSettings(ctx, e.admin, "other", vault.SettingsUpdate{PurgeProtection: ptr(true)}); err != nil {
		t.Errorf("UpdateSettings(purge protection on again) = %v", err)
	}
	st, err := e.vault.Settings(ctx, e.admin, "other")
	if err != nil {
		t.Fatal(err)
	}
	want := vault.Settings{RetentionDays: 90, PurgeProtection: true, NetworkAllow: []string{"192.168.1.0/24", "fd00::/64"}}
	if d := cmp.Diff(want, st); d != "" {
		t.Errorf("Settings (-want +got):\n%s", d)
	}
	// A fresh service reads the same settings from the store.
	if st2, err := e.newVault(e.db).Settings(ctx, e.admin, "other"); err != nil || !cmp.Equal(st2, want) {
		t.Errorf("another service's Settings = %+v, %v; want %+v", st2, err, want)
	}

	// Only a caller with VaultsWrite may change settings; data roles may not.
	user := e.principal("secrets-user", "Key Vault Secrets User")
	_, err = e.vault.UpdateSettings(ctx, user, "other", vault.SettingsUpdate{RetentionDays: ptr(30)})
	wantKind(t, "UpdateSettings by a Key Vault Secrets User", err, errs.Forbidden, "", "")
	_, err = e.vault.UpdateSettings(ctx, e.admin, "missing", vault.SettingsUpdate{RetentionDays: ptr(30)})
	wantKind(t, "UpdateSettings of a missing vault", err, errs.NotFound, "", "")
}

// TestCheckNetwork: an empty allow-list lets every address in; otherwise only
// addresses inside a range, IPv4-mapped IPv6 addresses included. The refusal
// is Forbidden and carries Key Vault's firewall code.
func TestCheckNetwork(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.vault.CheckNetwork(ctx, "default", "203.0.113.9"); err != nil {
		t.Errorf("CheckNetwork without an allow-list = %v", err)
	}
	if _, err := e.vault.UpdateSettings(ctx, e.admin, "default", vault.SettingsUpdate{NetworkAllow: &[]string{"10.0.0.0/8", "2001:db8::/32"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true},
		{"2001:db8::5", true},
		{"127.0.0.1", false},
		{"11.0.0.1", false},
		{"2001:db9::5", false},
		{"not-an-address", false},
		{"", false},
	} {
		err := e.vault.CheckNetwork(ctx, "default", tc.addr)
		if tc.ok {
			if err != nil {
				t.Errorf("CheckNetwork(%q) = %v, want nil", tc.addr, err)
			}
			continue
		}
		wantKind(t, fmt.Sprintf("CheckNetwork(%q)", tc.addr), err, errs.Forbidden, "Forbidden", "ForbiddenByFirewall")
	}
	// Another vault keeps its own (empty) list.
	if err := e.vault.CheckNetwork(ctx, "other", "127.0.0.1"); err != nil {
		t.Errorf("CheckNetwork(other) = %v", err)
	}
	err := e.vault.CheckNetwork(ctx, "missing", "10.1.2.3")
	wantKind(t, "CheckNetwork(missing vault)", err, errs.NotFound, "", "")
}

// TestVaultNamesFoldCase: vault names are case-insensitive, as the scopes
// they come from (the management API passes them as typed): settings read and
// written under any case reach the same vault, and the data plane sees a
// change made under another case at once.
func TestVaultNamesFoldCase(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.vault.CheckNetwork(ctx, "default", "127.0.0.1"); err != nil { // caches the vault
		t.Fatal(err)
	}
	if _, err := e.vault.UpdateSettings(ctx, e.admin, "Default", vault.SettingsUpdate{NetworkAllow: &[]string{"10.0.0.0/8"}}); err != nil {
		t.Fatalf("UpdateSettings(Default) = %v", err)
	}
	err := e.vault.CheckNetwork(ctx, "default", "127.0.0.1")
	wantKind(t, "CheckNetwork(default) right after UpdateSettings(Default)", err, errs.Forbidden, "Forbidden", "ForbiddenByFirewall")
	st, err := e.vault.Settings(ctx, e.admin, "DEFAULT")
	if err != nil || len(st.NetworkAllow) != 1 {
		t.Errorf("Settings(DEFAULT) = %+v, %v", st, err)
	}
	b, err := e.vault.Set(ctx, e.admin, "DeFault", "s", vault.SetParams{Value: vault.NewValue([]byte("v"))})
	if err != nil || b.Vault != "default" {
		t.Fatalf("Set in DeFault = %+v, %v", b, err)
	}
	if _, err := e.vault.Get(ctx, e.admin, "default", "s", b.Version); err != nil {
		t.Errorf("Get in default = %v", err)
	}
}
