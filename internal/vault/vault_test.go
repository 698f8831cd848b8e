package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

func ptr[T any](v T) *T { return &v }

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

// TestCacheFollowsOtherService: two services on one SQLite file, as two
// replicas. Whatever one writes (a new version, an attribute, a deletion, a
// vault setting), the other reads once its Run has caught up with the change
// feed, although it had cached the old state.
func TestCacheFollowsOtherService(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	db2 := openDB(t, e.path)
	replica, err := vault.New(ctx, vault.Options{Store: db2, Keys: e.keys, Access: runAccess(t, db2, e.clock), TenantID: e.tenant, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	run(t, replica.Run)

	// eventually polls check until it returns "", or fails at the deadline.
	eventually := func(what string, check func() string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			msg := check()
			if msg == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %s after 15s", what, msg)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	getVersion := func() (string, error) {
		b, err := replica.Get(ctx, e.admin, "default", "shared", "")
		return b.Version, err
	}

	v1 := e.set("shared", "one", vault.SetParams{})
	if v, err := getVersion(); err != nil || v != v1.Version {
		t.Fatalf("replica Get = %s, %v; want %s", v, err, v1.Version)
	}
	// The replica now holds v1 in its cache. A new version through e.vault:
	v2 := e.set("shared", "two", vault.SetParams{})
	eventually("new version", func() string {
		b, err := replica.Get(ctx, e.admin, "default", "shared", "")
		if err != nil || b.Version != v2.Version || string(b.Value.Reveal()) != "two" {
			return fmt.Sprintf("version %s, %v", b.Version, err)
		}
		return ""
	})
	// An older version by id still reads, with its own value.
	if b, err := replica.Get(ctx, e.admin, "default", "shared", v1.Version); err != nil || string(b.Value.Reveal()) != "one" {
		t.Errorf("replica Get(v1) = %v", err)
	}

	// An attribute change: disabled.
	if _, err := e.vault.Update(ctx, e.admin, "default", "shared", "", vault.UpdateParams{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	eventually("disabled", func() string {
		_, err := getVersion()
		if errs.KindOf(err) != errs.Forbidden {
			return fmt.Sprintf("Get = %v", err)
		}
		return ""
	})
	if _, err := e.vault.Update(ctx, e.admin, "default", "shared", "", vault.UpdateParams{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	eventually("enabled again", func() string {
		if _, err := getVersion(); err != nil {
			return fmt.Sprintf("Get = %v", err)
		}
		return ""
	})

	// A deletion, then a recovery.
	if _, err := e.vault.Delete(ctx, e.admin, "default", "shared"); err != nil {
		t.Fatal(err)
	}
	eventually("deleted", func() string {
		if _, err := getVersion(); errs.KindOf(err) != errs.NotFound {
			return fmt.Sprintf("Get = %v", err)
		}
		return ""
	})
	if _, err := e.vault.Recover(ctx, e.admin, "default", "shared"); err != nil {
		t.Fatal(err)
	}
	eventually("recovered", func() string {
		if v, err := getVersion(); err != nil || v != v2.Version {
			return fmt.Sprintf("Get = %s, %v", v, err)
		}
		return ""
	})

	// A vault setting: the replica had the vault cached without an allow-list.
	if err := replica.CheckNetwork(ctx, "default", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.UpdateSettings(ctx, e.admin, "default", vault.SettingsUpdate{NetworkAllow: &[]string{"10.0.0.0/8"}}); err != nil {
		t.Fatal(err)
	}
	eventually("allow-list", func() string {
		if err := replica.CheckNetwork(ctx, "default", "127.0.0.1"); errs.KindOf(err) != errs.Forbidden {
			return fmt.Sprintf("CheckNetwork = %v", err)
		}
		return ""
	})
}

// TestValidityWindow: Get refuses a disabled version, one not yet valid (before
// nbf) and an expired one (at or after exp) with Forbidden and Key Vault's
// inner codes, and serves it at the exact instants the window opens; metadata
// stays readable throughout.
func TestValidityWindow(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	now := e.clock.Now()
	get := func(name, version string) error {
		_, err := e.vault.Get(ctx, e.admin, "default", name, version)
		return err
	}

	e.set("later", "v", vault.SetParams{NotBefore: now.Add(time.Hour)})
	e.set("soon-gone", "v", vault.SetParams{Expires: now.Add(time.Hour)})
	e.set("off", "v", vault.SetParams{Enabled: ptr(false)})
	old := e.set("mixed", "old", vault.SetParams{})
	e.set("mixed", "new", vault.SetParams{})

	wantKind(t, "Get(later)", get("later", ""), errs.Forbidden, "Forbidden", "SecretNotYetValid")
	if err := get("soon-gone", ""); err != nil {
		t.Errorf("Get(soon-gone) before exp = %v", err)
	}
	wantKind(t, "Get(off)", get("off", ""), errs.Forbidden, "Forbidden", "SecretDisabled")

	e.clock.Advance(time.Hour - time.Second)
	wantKind(t, "Get(later) a second before nbf", get("later", ""), errs.Forbidden, "Forbidden", "SecretNotYetValid")
	if err := get("soon-gone", ""); err != nil {
		t.Errorf("Get(soon-gone) a second before exp = %v", err)
	}
	e.clock.Advance(time.Second) // exactly nbf and exp
	if err := get("later", ""); err != nil {
		t.Errorf("Get(later) at nbf = %v", err)
	}
	wantKind(t, "Get(soon-gone) at exp", get("soon-gone", ""), errs.Forbidden, "Forbidden", "SecretExpired")

	// Update moves the window: a zero time removes the limit.
	if _, err := e.vault.Update(ctx, e.admin, "default", "soon-gone", "", vault.UpdateParams{Expires: &time.Time{}}); err != nil {
		t.Fatal(err)
	}
	if err := get("soon-gone", ""); err != nil {
		t.Errorf("Get(soon-gone) after removing exp = %v", err)
	}
	if _, err := e.vault.Update(ctx, e.admin, "default", "off", "", vault.UpdateParams{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if err := get("off", ""); err != nil {
		t.Errorf("Get(off) after enabling = %v", err)
	}

	// Disabling an old version leaves the current one readable, and the other way round.
	if _, err := e.vault.Update(ctx, e.admin, "default", "mixed", old.Version, vault.UpdateParams{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "Get(mixed, old)", get("mixed", old.Version), errs.Forbidden, "Forbidden", "SecretDisabled")
	if b, err := e.vault.Get(ctx, e.admin, "default", "mixed", ""); err != nil || string(b.Value.Reveal()) != "new" {
		t.Errorf("Get(mixed) = %v", err)
	}

	// Metadata of refused versions is still listed.
	bs, _, err := e.vault.Versions(ctx, e.admin, "default", "mixed", store.Page{})
	if err != nil || len(bs) != 2 {
		t.Fatalf("Versions(mixed) = %d, %v; want 2", len(bs), err)
	}
	for _, b := range bs {
		if b.Value != nil {
			t.Errorf("Versions returned a value")
		}
		if b.Version == old.Version && b.Enabled {
			t.Errorf("Versions shows the old version enabled")
		}
	}
	list, _, err := e.vault.List(ctx, e.admin, "default", store.Page{})
	if err != nil || len(list) != 4 {
		t.Errorf("List = %d secrets, %v; want 4", len(list), err)
	}
}

// TestDeleteRecoverPurge: a deleted secret is refused (NotFound) to reads and
// (Conflict) to new versions until recovered or purged; purge protection
// refuses the purge until the scheduled date, computed from the retention.
func TestDeleteRecoverPurge(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.vault.UpdateSettings(ctx, e.admin, "default", vault.SettingsUpdate{RetentionDays: ptr(7)}); err != nil {
		t.Fatal(err)
	}
	b := e.set("gone", "v1", vault.SetParams{})
	d, err := e.vault.Delete(ctx, e.admin, "default", "gone")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if !d.Deleted.Equal(now) || !d.ScheduledPurge.Equal(now.Add(7*24*time.Hour)) || d.Version != b.Version ||
		d.RecoverableDays != 7 || d.RecoveryLevel != "CustomizedRecoverable+Purgeable" {
		t.Errorf("Delete = %+v", d)
	}
	_, err = e.vault.Get(ctx, e.admin, "default", "gone", "")
	wantKind(t, "Get(deleted)", err, errs.NotFound, "SecretNotFound", "")
	_, err = e.vault.Set(ctx, e.admin, "default", "gone", vault.SetParams{Value: vault.NewValue([]byte("x"))})
	wantKind(t, "Set(deleted)", err, errs.Conflict, "Conflict", "ObjectIsDeletedButRecoverable")
	_, err = e.vault.Delete(ctx, e.admin, "default", "gone")
	wantKind(t, "Delete(deleted)", err, errs.NotFound, "SecretNotFound", "")
	_, err = e.vault.GetDeleted(ctx, e.admin, "default", "never")
	wantKind(t, "GetDeleted(never)", err, errs.NotFound, "SecretNotFound", "")

	if _, err := e.vault.Recover(ctx, e.admin, "default", "gone"); err != nil {
		t.Fatal(err)
	}
	if g, err := e.vault.Get(ctx, e.admin, "default", "gone", ""); err != nil || string(g.Value.Reveal()) != "v1" {
		t.Errorf("Get after Recover = %v", err)
	}

	// Purge protection: refused until the scheduled date, then allowed.
	if _, err := e.vault.UpdateSettings(ctx, e.admin, "default", vault.SettingsUpdate{PurgeProtection: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.Delete(ctx, e.admin, "default", "gone"); err != nil {
		t.Fatal(err)
	}
	err = e.vault.Purge(ctx, e.admin, "default", "gone")
	wantKind(t, "Purge under purge protection", err, errs.Forbidden, "Forbidden", "PurgeProtected")
	e.clock.Advance(7*24*time.Hour - time.Second)
	err = e.vault.Purge(ctx, e.admin, "default", "gone")
	wantKind(t, "Purge a second before the scheduled date", err, errs.Forbidden, "Forbidden", "PurgeProtected")
	e.clock.Advance(time.Second)
	if err := e.vault.Purge(ctx, e.admin, "default", "gone"); err != nil {
		t.Errorf("Purge at the scheduled date = %v", err)
	}
	_, err = e.vault.GetDeleted(ctx, e.admin, "default", "gone")
	wantKind(t, "GetDeleted after Purge", err, errs.NotFound, "SecretNotFound", "")
	// The name is free again.
	e.set("gone", "v2", vault.SetParams{})
}

// TestBackupRestore: a backup restores every version, the current one last,
// into any vault of the installation; not over an existing name; and never
// into another installation (other keyring, or same keyring and another
// tenant), with a message that says so.
func TestBackupRestore(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v1 := e.set("kept", "one", vault.SetParams{ContentType: "text/plain", Tags: map[string]string{"env": "dev"}})
	v2 := e.set("kept", "two", vault.SetParams{})
	blob, err := e.vault.Backup(ctx, e.admin, "default", "kept")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(blob, "=+/") {
		t.Errorf("the blob is not base64url without padding: %.40s...", blob)
	}

	_, err = e.vault.Restore(ctx, e.admin, "default", blob)
	wantKind(t, "Restore over an existing secret", err, errs.Conflict, "Conflict", "")
	b, err := e.vault.Restore(ctx, e.admin, "other", blob)
	if err != nil {
		t.Fatalf("Restore into another vault = %v", err)
	}
	if b.Vault != "other" || b.Name != "kept" || b.Version != v2.Version || b.Value != nil {
		t.Errorf("Restore = %+v", b)
	}
	for _, v := range []vault.Bundle{v1, v2} {
		g, err := e.vault.Get(ctx, e.admin, "other", "kept", v.Version)
		if err != nil || string(g.Value.Reveal()) != string(v.Value.Reveal()) || g.ContentType != v.ContentType || !cmp.Equal(g.Tags, v.Tags) {
			t.Errorf("Get(other, kept, %s) = %+v, %v", v.Version, g, err)
		}
	}
	if g, err := e.vault.Get(ctx, e.admin, "other", "kept", ""); err != nil || g.Version != v2.Version {
		t.Errorf("current version after Restore = %s, %v; want %s", g.Version, err, v2.Version)
	}

	// Tampered or malformed blobs.
	tampered := []byte(blob)
	tampered[len(tampered)/2] ^= 1
	for name, bad := range map[string]string{"tampered": string(tampered), "not base64url": "!!!", "empty": ""} {
		_, err := e.vault.Restore(ctx, e.admin, "other", bad)
		wantKind(t, "Restore("+name+")", err, errs.Invalid, "BadParameter", "")
	}

	// Other installations.
	foreign := newEnv(t)
	sameKeys := newEnv(t)
	sameKeysVault, err := vault.New(ctx, vault.Options{Store: sameKeys.db, Keys: e.keys, Access: sameKeys.access, TenantID: sameKeys.tenant, Now: sameKeys.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range map[string]*vault.Service{"another keyring": foreign.vault, "same keyring, another tenant": sameKeysVault} {
		_, err := svc.Restore(ctx, foreign.admin, "default", blob)
		if name != "another keyring" {
			_, err = svc.Restore(ctx, sameKeys.admin, "default", blob)
		}
		wantKind(t, "Restore in "+name, err, errs.Invalid, "BadParameter", "")
		var ee *errs.Error
		if errors.As(err, &ee) && !strings.Contains(ee.Msg, "not made by this installation") {
			t.Errorf("Restore in %s: message %q does not say the blob is another installation's", name, ee.Msg)
		}
	}

	// Only callers with the backup and restore actions.
	user := e.principal("reader", "Key Vault Secrets User")
	_, err = e.vault.Backup(ctx, user, "default", "kept")
	wantKind(t, "Backup by a Secrets User", err, errs.Forbidden, "", "")
	_, err = e.vault.Restore(ctx, user, "other", blob)
	wantKind(t, "Restore by a Secrets User", err, errs.Forbidden, "", "")
}

// TestValueRedacted: a Value, and a Bundle holding one, never print the
// plaintext, whatever the verb or logger.
func TestValueRedacted(t *testing.T) {
	const plain = "hunter2-plaintext"
	v := vault.NewValue([]byte(plain))
	b := vault.Bundle{Name: "n", Value: &v}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3s"} {
		out = append(out, fmt.Sprintf(verb, v), fmt.Sprintf(verb, &v), fmt.Sprintf(verb, b), fmt.Sprintf(verb, []vault.Value{v}))
	}
	out = append(out, fmt.Sprint(v), fmt.Sprintln(v, &v, b))
	if got := v.String(); got != "[REDACTED]" {
		t.Errorf("String() = %q", got)
	}
	if got := fmt.Sprintf("%v", v); got != "[REDACTED]" {
		t.Errorf("%%v = %q, want [REDACTED]", got)
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("bundle", "value", v, "ptr", &v, "bundle", b)
	}
	out = append(out, logs.String())
	if !strings.Contains(logs.String(), "[REDACTED]") {
		t.Errorf("the logs do not show [REDACTED]: %s", logs.String())
	}
	for _, s := range out {
		if strings.Contains(s, plain) || strings.Contains(s, fmt.Sprintf("%x", plain)) || strings.Contains(s, fmt.Sprint([]byte(plain))) {
			t.Errorf("the plaintext shows in %q", s)
		}
	}
	if string(v.Reveal()) != plain {
		t.Errorf("Reveal() = %q", v.Reveal())
	}
}

// TestCanaryNeverInErrors plants a value and drives the service into every
// failure it has around that value: none of the errors, in any format, holds
// it, nor does the service's log.
func TestCanaryNeverInErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	canary := "canary-" + uuid.NewString()
	var logs bytes.Buffer
	logged, err := vault.New(ctx, vault.Options{Store: e.db, Keys: e.keys, Access: e.access, TenantID: e.tenant, Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	val := func(s string) vault.Value { return vault.NewValue([]byte(s)) }
	b, err := logged.Set(ctx, e.admin, "default", "planted", vault.SetParams{Value: val(canary), Expires: e.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := logged.Backup(ctx, e.admin, "default", "planted")
	if err != nil {
		t.Fatal(err)
	}
	user := e.principal("user", "Key Vault Secrets User")
	// A service of this database with another keyring cannot open the value.
	key, _ := seal.NewKey()
	otherKeys, _ := seal.NewKeyring(key)
	wrongKeys, err := vault.New(ctx, vault.Options{Store: e.db, Keys: otherKeys, Access: e.access, TenantID: e.tenant, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	var got []error
	try := func(_ any, err error) { got = append(got, err) }
	try(logged.Set(ctx, e.admin, "default", "planted", vault.SetParams{Value: val(strings.Repeat(canary, vault.MaxValueBytes/len(canary)+1))}))
	try(logged.Set(ctx, e.admin, "default", "bad_name", vault.SetParams{Value: val(canary)}))
	try(logged.Set(ctx, user, "default", "planted", vault.SetParams{Value: val(canary)}))
	try(logged.Set(ctx, e.admin, "default", "planted", vault.SetParams{Value: val(canary), ContentType: strings.Repeat("x", 300)}))
	try(logged.Set(ctx, e.admin, "missing", "planted", vault.SetParams{Value: val(canary)}))
	try(wrongKeys.Get(ctx, e.admin, "default", "planted", ""))
	try(wrongKeys.Backup(ctx, e.admin, "default", "planted"))
	try(wrongKeys.Restore(ctx, e.admin, "other", blob))
	try(logged.Restore(ctx, e.admin, "default", blob)) // conflict
	try(logged.Update(ctx, e.admin, "default", "planted", b.Version, vault.UpdateParams{Tags: &map[string]string{"": canary}}))
	e.clock.Advance(time.Hour)
	try(logged.Get(ctx, e.admin, "default", "planted", "")) // expired
	try(logged.Update(ctx, e.admin, "default", "planted", "", vault.UpdateParams{Enabled: ptr(false)}))
	try(logged.Get(ctx, e.admin, "default", "planted", b.Version)) // disabled
	try(logged.Delete(ctx, e.admin, "default", "planted"))
	try(logged.Set(ctx, e.admin, "default", "planted", vault.SetParams{Value: val(canary)})) // deleted: conflict
	try(logged.Get(ctx, e.admin, "default", "planted", ""))                                  // deleted: not found
	try(logged.Recover(ctx, user, "default", "planted"))
	got = append(got, logged.Purge(ctx, user, "default", "planted"))

	failures := 0
	for i, err := range got {
		if err == nil {
			continue
		}
		failures++
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, canary) {
				t.Errorf("error %d shows the planted value: %s", i, s)
			}
		}
		var ee *errs.Error
		if errors.As(err, &ee) && strings.Contains(ee.Msg, canary) {
			t.Errorf("error %d's message shows the planted value", i)
		}
	}
	if failures < 15 {
		t.Errorf("only %d of %d calls failed; the test no longer drives the failures it names", failures, len(got))
	}
	if strings.Contains(logs.String(), canary) {
		t.Errorf("the service's log shows the planted value")
	}
}

// BenchmarkGet measures Get of a cached 100-byte secret in process: vault
// lookup, decision, cache hit and one AES-GCM open.
func BenchmarkGet(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	e.set("bench", strings.Repeat("x", 100), vault.SetParams{})
	if _, err := e.vault.Get(ctx, e.admin, "default", "bench", ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.vault.Get(ctx, e.admin, "default", "bench", ""); err != nil {
			b.Fatal(err)
		}
	}
}
