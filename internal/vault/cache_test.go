package vault_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/vault"
)

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
