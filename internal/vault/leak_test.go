package vault_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/vault"
)

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
