package vault_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

func ptr[T any](v T) *T { return &v }

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

// TestScheduledPurge: a soft-deleted secret is purged by the vault itself
// once its scheduled date has passed, not before, and each purge is recorded
// once (Options.Audit), by the replica that did it.
func TestScheduledPurge(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var mu sync.Mutex
	var events []vault.Event
	replica := func() *vault.Service {
		svc, err := vault.New(ctx, vault.Options{Store: e.db, Keys: e.keys, Access: e.access, TenantID: e.tenant, Now: e.clock.Now,
			Audit: func(_ context.Context, ev vault.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := replica(), replica()
	if _, err := e.vault.UpdateSettings(ctx, e.admin, "default", vault.SettingsUpdate{RetentionDays: ptr(7)}); err != nil {
		t.Fatal(err)
	}
	e.set("gone", "v1", vault.SetParams{})
	e.set("kept", "v1", vault.SetParams{})
	d, err := e.vault.Delete(ctx, e.admin, "default", "gone")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(7*24*time.Hour - time.Second)
	if err := a.PurgeDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.GetDeleted(ctx, e.admin, "default", "gone"); err != nil || len(events) != 0 {
		t.Fatalf("before its date: GetDeleted = %v, %d events; want the secret kept, no event", err, len(events))
	}
	e.clock.Advance(2 * time.Second) // past the date
	if err := a.PurgeDue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.PurgeDue(ctx); err != nil { // the other replica finds nothing left to do
		t.Fatal(err)
	}
	_, err = a.GetDeleted(ctx, e.admin, "default", "gone") // a dropped it from its cache; e.vault follows the change feed
	wantKind(t, "GetDeleted after the scheduled purge", err, errs.NotFound, "SecretNotFound", "")
	if _, err := a.Get(ctx, e.admin, "default", "kept", ""); err != nil {
		t.Errorf("a secret not deleted: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 {
		t.Fatalf("events = %+v, want one", events)
	}
	ev := events[0]
	want := "secret gone of vault default purged at its scheduled date " + d.ScheduledPurge.UTC().Format(time.RFC3339)
	if ev.Operation != access.SecretsPurge || ev.Scope != "/hubs/default/vaults/default/secrets/gone" || !strings.HasPrefix(ev.Reason, want) {
		t.Errorf("event = %+v, want %s at the secret's scope, reason starting %q", ev, access.SecretsPurge, want)
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
	for _, tc := range []struct {
		name   string
		svc    *vault.Service
		caller string
	}{
		{"another keyring", foreign.vault, foreign.admin},
		{"same keyring, another tenant", sameKeysVault, sameKeys.admin},
	} {
		_, err := tc.svc.Restore(ctx, tc.caller, "default", blob)
		wantKind(t, "Restore in "+tc.name, err, errs.Invalid, "BadParameter", "")
		var ee *errs.Error
		if errors.As(err, &ee) && !strings.Contains(ee.Msg, "not made by this installation") {
			t.Errorf("Restore in %s: message %q does not say the blob is another installation's", tc.name, ee.Msg)
		}
	}

	// Only callers with the backup and restore actions.
	user := e.principal("reader", "Key Vault Secrets User")
	_, err = e.vault.Backup(ctx, user, "default", "kept")
	wantKind(t, "Backup by a Secrets User", err, errs.Forbidden, "", "")
	_, err = e.vault.Restore(ctx, user, "other", blob)
	wantKind(t, "Restore by a Secrets User", err, errs.Forbidden, "", "")
}
