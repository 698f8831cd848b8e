package review_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/review"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

// scenario is an installation built 60 days before now, with a trail that
// triggers every kind of finding once or more, and records that must not.
type scenario struct {
	*env
	app, idle, idleOwner, idleReader, prober, slow, late, off store.Principal
	trainer, idleMI, ada, bob                                 store.Principal
	adminKey, idleKey, idleOwnerKey, idleReaderKey            string
	proberKey, slowKey                                        string
	appUnused, idleOwnerUAA, idleReaderReader                 string
}

func newScenario(t *testing.T, db backend) *scenario {
	e := newEnv(t, db)
	s := &scenario{env: e}
	ctx := t.Context()
	e.resources("/hubs/h", "/hubs/h/vaults/v", "/hubs/h/vaults/v2", "/hubs/h2", "/hubs/h2/vaults/w")

	// 60 days ago: the principals, their roles and the secrets.
	s.app = e.sp("app", grant{"Key Vault Secrets User", "/hubs/h/vaults/v"}, grant{"Key Vault Secrets User", "/hubs/h/vaults/v2"})
	s.idle = e.sp("idle")
	s.idleOwner = e.sp("idle-owner", grant{"User Access Administrator", "/hubs/h"})
	s.idleReader = e.sp("idle-reader", grant{"Reader", "/hubs/h2"})
	s.prober = e.sp("prober")
	s.slow = e.sp("slow")
	s.off = e.sp("off", grant{"Reader", "/hubs/h"})
	if _, err := e.ids.SetEnabled(ctx, s.off.ID, false); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.trainer, err = e.ids.CreateManagedIdentity(ctx, "trainer"); err != nil {
		t.Fatal(err)
	}
	if s.idleMI, err = e.ids.CreateManagedIdentity(ctx, "idle-mi"); err != nil {
		t.Fatal(err)
	}
	if s.ada, err = e.ids.CreateUser(ctx, "ada", identity.NewSecret("correct horse battery staple")); err != nil {
		t.Fatal(err)
	}
	if s.bob, err = e.ids.CreateUser(ctx, "bob", identity.NewSecret("another horse battery staple")); err != nil {
		t.Fatal(err)
	}
	e.secret("v", "db", time.Time{})
	e.secret("v", "stale", time.Time{})
	e.secret("v", "soon", now.Add(10*day))
	e.secret("v", "gone", now.Add(-day))
	e.secret("v", "later", now.Add(60*day))
	e.secret("w", "other", time.Time{})
	// A disabled secret, expired and never read, is no finding: nobody can read it.
	off := false
	if _, err := e.vault.Set(ctx, e.admin.ID, "v", "disabled", vault.SetParams{Value: vault.NewValue([]byte("x")), Enabled: &off, Expires: now.Add(-day)}); err != nil {
		t.Fatal(err)
	}
	s.adminKey, s.idleKey, s.idleOwnerKey = e.clientSecret(e.admin), e.clientSecret(s.idle), e.clientSecret(s.idleOwner)
	s.idleReaderKey, s.proberKey, s.slowKey = e.clientSecret(s.idleReader), e.clientSecret(s.prober), e.clientSecret(s.slow)
	s.appUnused = e.assignment(s.app, "Key Vault Secrets User", "/hubs/h/vaults/v2")
	s.idleOwnerUAA = e.assignment(s.idleOwner, "User Access Administrator", "/hubs/h")
	s.idleReaderReader = e.assignment(s.idleReader, "Reader", "/hubs/h2")

	// Within the period: app's secret is rotated, a principal and a secret
	// are made, too new to be reported.
	e.clock.Set(ago(3 * day))
	if _, err := e.ids.ResetSecret(ctx, s.app.AppID, 0); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(ago(day))
	s.late = e.sp("late")
	e.secret("v", "fresh", time.Time{})

	// The trail. The admin works at 192.0.2.10 and uses both its roles.
	e.event(ago(20*day), e.admin, "192.0.2.10", access.VaultsWrite, "/hubs/h/vaults/v")
	e.event(ago(20*day), e.admin, "192.0.2.10", access.SecretsSet, "/hubs/h/vaults/v/secrets/db")
	e.event(ago(15*day), e.admin, "192.0.2.10", access.IdentitiesAssign, "/identities/trainer") // a token as trainer
	e.signIn(ago(time.Hour), e.admin, "192.0.2.10")
	// app reads from 10.0.0.1, then signs in from an address it never used.
	e.signIn(ago(10*day), s.app, "10.0.0.1")
	e.event(ago(10*day), s.app, "10.0.0.1", access.SecretsGet, "/hubs/h/vaults/v/secrets/db")
	e.event(ago(5*day), s.app, "10.0.0.1", access.SecretsGet, "/hubs/h/vaults/v/secrets/soon")
	e.event(ago(5*day), s.app, "10.0.0.1", access.SecretsGet, "/hubs/h/vaults/v/secrets/later")
	e.event(ago(20*day), s.app, "10.0.0.1", access.SecretsGet, "/hubs/h/vaults/v/secrets/gone")
	e.signIn(ago(2*time.Hour), s.app, "203.0.113.9")
	// A read before the period does not count.
	e.event(ago(40*day), s.app, "10.0.0.1", access.SecretsGet, "/hubs/h/vaults/v/secrets/stale")
	// prober: 25 denials in two minutes from one address.
	e.signIn(ago(5*day), s.prober, "198.51.100.7")
	e.denied(ago(5*day), 25, 5*time.Second, s.prober, "198.51.100.7")
	// slow: 30 denials a minute apart, and 19 within a minute: no burst.
	e.signIn(ago(4*day), s.slow, "10.0.0.2")
	e.denied(ago(4*day), 30, time.Minute, s.slow, "10.0.0.2")
	e.denied(ago(3*day), 19, 3*time.Second, s.slow, "10.0.0.2")
	// ada signs in; the disabled principal is refused, and is no finding.
	e.signIn(ago(3*day), s.ada, "10.0.0.3")
	e.writeTrail()
	return s
}

// want is every finding of the scenario, over 30 days at "/".
func (s *scenario) want() []brief {
	return sorted([]brief{
		{review.ExpiredSecret, review.High, "/hubs/h/vaults/v/secrets/gone"},
		{review.DenialBurst, review.High, s.prober.ID},
		{review.DenialBurst, review.High, "198.51.100.7"},
		{review.StaleKey, review.High, s.adminKey},
		{review.StaleKey, review.High, s.idleOwnerKey},
		{review.UnusedIdentity, review.High, s.idleOwner.ID},
		{review.UnusedAssignment, review.High, s.idleOwnerUAA},

		{review.ExpiringSecret, review.Medium, "/hubs/h/vaults/v/secrets/soon"},
		{review.NewClientAddress, review.Medium, s.app.ID},
		{review.StaleKey, review.Medium, s.idleKey},
		{review.StaleKey, review.Medium, s.idleReaderKey},
		{review.StaleKey, review.Medium, s.proberKey},
		{review.StaleKey, review.Medium, s.slowKey},
		{review.UnusedAssignment, review.Medium, s.appUnused},
		{review.UnusedAssignment, review.Medium, s.idleReaderReader},
		{review.UnusedIdentity, review.Medium, s.idleReader.ID},

		{review.UnreadSecret, review.Low, "/hubs/h/vaults/v/secrets/stale"},
		{review.UnreadSecret, review.Low, "/hubs/h2/vaults/w/secrets/other"},
		{review.UnusedIdentity, review.Low, s.idle.ID},
		{review.UnusedIdentity, review.Low, s.idleMI.ID},
		{review.UnusedIdentity, review.Low, s.bob.ID},
	})
}

func TestReview(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := newScenario(t, open(t))
			got, err := s.reviewer(review.Options{}).Review(t.Context(), 30, "/")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s.want(), briefs(got)); diff != "" {
				t.Errorf("Review(30, /) findings (-want +got):\n%s", diff)
			}
			s.checkDetails(t, got)
		})
	}
}

// checkDetails checks that each finding names its subject and a fix that
// fits it.
func (s *scenario) checkDetails(t *testing.T, fs []review.Finding) {
	t.Helper()
	wantFix := map[string]string{
		"/hubs/h/vaults/v/secrets/gone":   "latchkey keyvault secret set --vault-name v --name gone",
		"/hubs/h/vaults/v/secrets/soon":   "latchkey keyvault secret set --vault-name v --name soon",
		"/hubs/h/vaults/v/secrets/stale":  "latchkey keyvault secret delete --vault-name v --name stale",
		"/hubs/h2/vaults/w/secrets/other": "latchkey keyvault secret delete --vault-name w --name other",
		s.prober.ID:                       "latchkey audit list --principal " + s.prober.ID + " --result denied",
		"198.51.100.7":                    "latchkey audit list --result denied",
		s.adminKey:                        "latchkey sp credential reset --id " + s.admin.AppID,
		s.idleKey:                         "latchkey sp credential reset --id " + s.idle.AppID,
		s.idleOwnerUAA:                    "latchkey role assignment delete --ids " + s.idleOwnerUAA,
		s.appUnused:                       "latchkey role assignment delete --ids " + s.appUnused,
		s.idle.ID:                         "latchkey sp delete --id " + s.idle.AppID,
		s.idleMI.ID:                       "latchkey identity delete idle-mi",
		s.bob.ID:                          "latchkey user delete bob",
		s.app.ID:                          "latchkey sp credential reset --id " + s.app.AppID,
	}
	wantDetail := map[string]string{
		"/hubs/h/vaults/v/secrets/gone": "expired on 2026-11-22",
		"/hubs/h/vaults/v/secrets/soon": "expires on 2026-12-03, in 10 days",
		s.prober.ID:                     "25 denied in the period",
		"198.51.100.7":                  "from 2026-11-18T12:00:00Z",
		s.app.ID:                        "203.0.113.9 (first at 2026-11-23T10:00:00Z)",
		s.idleOwner.ID:                  "able to change access",
		s.appUnused:                     `role "Key Vault Secrets User" at /hubs/h/vaults/v2`,
	}
	for _, f := range fs {
		if f.Detail == "" || f.Suggestion == "" || f.Scope == "" {
			t.Errorf("%s %s has an empty field: %+v", f.Kind, f.Subject, f)
		}
		if fix, ok := wantFix[f.Subject]; ok && !strings.Contains(f.Suggestion, fix) {
			t.Errorf("%s %s: suggestion %q lacks %q", f.Kind, f.Subject, f.Suggestion, fix)
		}
		if d, ok := wantDetail[f.Subject]; ok && !strings.Contains(f.Detail, d) {
			t.Errorf("%s %s: detail %q lacks %q", f.Kind, f.Subject, f.Detail, d)
		}
	}
}

// TestReviewScope: a review of a hub holds what lies in it, and a review of
// a managed identity its findings; principals' and addresses' findings lie
// at the tenant.
func TestReviewScope(t *testing.T) {
	s := newScenario(t, openSQLite(t))
	svc := s.reviewer(review.Options{})
	cases := []struct {
		scope string
		want  []brief
	}{
		{"/hubs/h", []brief{
			{review.ExpiredSecret, review.High, "/hubs/h/vaults/v/secrets/gone"},
			{review.UnusedAssignment, review.High, s.idleOwnerUAA},
			{review.ExpiringSecret, review.Medium, "/hubs/h/vaults/v/secrets/soon"},
			{review.UnusedAssignment, review.Medium, s.appUnused},
			{review.UnreadSecret, review.Low, "/hubs/h/vaults/v/secrets/stale"},
		}},
		{"/HUBS/h2/", []brief{
			{review.UnusedAssignment, review.Medium, s.idleReaderReader},
			{review.UnreadSecret, review.Low, "/hubs/h2/vaults/w/secrets/other"},
		}},
		{"/hubs/h/vaults/v/secrets/soon", []brief{{review.ExpiringSecret, review.Medium, "/hubs/h/vaults/v/secrets/soon"}}},
		{"/identities/idle-mi", []brief{{review.UnusedIdentity, review.Low, s.idleMI.ID}}},
		{"/identities/trainer", []brief{}},
	}
	for _, tc := range cases {
		got, err := svc.Review(t.Context(), 30, tc.scope)
		if err != nil {
			t.Fatalf("Review(30, %s) = %v", tc.scope, err)
		}
		if diff := cmp.Diff(tc.want, briefs(got)); diff != "" {
			t.Errorf("Review(30, %s) findings (-want +got):\n%s", tc.scope, diff)
		}
	}
}

// TestReviewPeriod: over 7 days, what was used 10 to 20 days ago counts as
// unused.
func TestReviewPeriod(t *testing.T) {
	s := newScenario(t, openSQLite(t))
	got, err := s.reviewer(review.Options{}).Review(t.Context(), 7, "/")
	if err != nil {
		t.Fatal(err)
	}
	has := map[brief]bool{}
	for _, b := range briefs(got) {
		has[b] = true
	}
	for _, b := range []brief{
		{review.UnusedAssignment, review.High, s.assignment(s.admin, "Key Vault Administrator", "/")}, // set a secret 20 days ago
		{review.UnreadSecret, review.Low, "/hubs/h/vaults/v/secrets/db"},
		{review.UnusedIdentity, review.Low, s.trainer.ID}, // its token was 15 days ago
		{review.DenialBurst, review.High, s.prober.ID},
	} {
		if !has[b] {
			t.Errorf("Review(7, /) lacks %+v", b)
		}
	}
	if has[brief{review.UnreadSecret, review.Low, "/hubs/h/vaults/v/secrets/soon"}] {
		t.Error("Review(7, /) reports secret soon unread, but app read it 5 days ago")
	}
}

// TestReviewKeySources: keys of other kinds come through Options.KeySources
// and follow the same rules as client secrets.
func TestReviewKeySources(t *testing.T) {
	s := newScenario(t, openSQLite(t))
	keys := func(_ context.Context, visit func(review.Key)) error {
		for _, k := range []review.Key{
			{ID: "oai/key1", Kind: "key1", Owner: `account "oai"`, Scope: "/hubs/h/accounts/oai", Created: ago(100 * day), Rotate: "latchkey account keys renew --name oai --key key1"},
			{ID: "oai/key2", Kind: "key2", Owner: `account "oai"`, Scope: "/hubs/h/accounts/oai", Created: ago(2 * day), Rotate: "..."},
			{ID: "old/key1", Kind: "key1", Owner: `account "old"`, Scope: "/hubs/h/accounts/old", Created: ago(100 * day), Expires: ago(day), Rotate: "..."},
			{ID: "admin-cert", Kind: "certificate", Owner: "the admin", PrincipalID: s.admin.ID, Created: ago(100 * day), Rotate: "..."},
		} {
			visit(k)
		}
		return nil
	}
	got, err := s.reviewer(review.Options{KeySources: []review.KeySource{keys}}).Review(t.Context(), 30, "/hubs/h/accounts")
	if err == nil {
		t.Fatalf("Review at /hubs/h/accounts (not a scope) = %v, want Invalid", got)
	}
	got, err = s.reviewer(review.Options{KeySources: []review.KeySource{keys}}).Review(t.Context(), 30, "/")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]review.Finding{}
	for _, f := range got {
		if f.Kind == review.StaleKey {
			found[f.Subject] = f
		}
	}
	if f, ok := found["oai/key1"]; !ok || f.Severity != review.Medium || f.Scope != "/hubs/h/accounts/oai" ||
		!strings.Contains(f.Suggestion, "latchkey account keys renew --name oai --key key1") || !strings.Contains(f.Detail, `key1 of account "oai"`) {
		t.Errorf("finding of oai/key1 = %+v, want a medium StaleKey at its account with its Rotate command", f)
	}
	if f, ok := found["admin-cert"]; !ok || f.Severity != review.High || f.Scope != "/" {
		t.Errorf("finding of the admin's certificate = %+v, want high (the admin holds Owner at /) at /", f)
	}
	for _, id := range []string{"oai/key2", "old/key1"} {
		if f, ok := found[id]; ok {
			t.Errorf("%s is reported (%+v), but it is new or expired", id, f)
		}
	}
}

func TestReviewInvalid(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	svc := e.reviewer(review.Options{})
	cases := []struct {
		days  int
		scope string
		field string
	}{
		{0, "/", "days"},
		{review.MaxDays + 1, "/", "days"},
		{-3, "/", "days"},
		{30, "hubs/h", "scope"},
		{30, "/hubs/h/keys/k", "scope"},
	}
	for _, tc := range cases {
		_, err := svc.Review(t.Context(), tc.days, tc.scope)
		var e *errs.Error
		if !errs.Is(err, errs.Invalid) || !errors.As(err, &e) || e.Field != tc.field {
			t.Errorf("Review(%d, %q) = %v, want Invalid naming %s", tc.days, tc.scope, err, tc.field)
		}
	}
}

// TestReviewBounds: past MaxTracked the review says it is incomplete; a
// principal seen from more than AddressesPerPrincipal addresses has no
// baseline to compare with.
func TestReviewBounds(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	roamer := e.sp("roamer")
	e.signIn(ago(time.Hour), e.admin, "192.0.2.1")
	for i := range 6 {
		ip := netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}).String()
		e.signIn(ago(10*day), roamer, ip)
		e.denied(ago(9*day).Add(time.Duration(i)*time.Second), 1, 0, store.Principal{}, ip)
	}
	e.signIn(ago(time.Hour), roamer, "10.9.9.9")
	e.writeTrail()

	full := e.reviewer(review.Options{MaxTracked: 4, AddressesPerPrincipal: 100})
	got, err := full.Review(t.Context(), 30, "/hubs/h")
	if err != nil {
		t.Fatal(err)
	}
	var incomplete []string
	for _, f := range got {
		if f.Kind == review.Incomplete {
			incomplete = append(incomplete, f.Detail)
		}
	}
	if len(incomplete) != 2 || !strings.Contains(incomplete[0]+incomplete[1], "new client addresses") ||
		!strings.Contains(incomplete[0]+incomplete[1], "denial bursts") {
		t.Errorf("Review with MaxTracked 4 says incomplete %q, want both bounds named (even at a narrower scope)", incomplete)
	}

	roaming := e.reviewer(review.Options{AddressesPerPrincipal: 5})
	got, err = roaming.Review(t.Context(), 30, "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got {
		if f.Kind == review.NewClientAddress || f.Kind == review.Incomplete {
			t.Errorf("roamer, seen from 6 addresses with a bound of 5: %+v", f)
		}
	}
	enough := e.reviewer(review.Options{})
	got, err = enough.Review(t.Context(), 30, "/")
	if err != nil {
		t.Fatal(err)
	}
	if n := count(got, review.NewClientAddress, roamer.ID); n != 1 {
		t.Errorf("roamer's new address 10.9.9.9 found %d times, want once under the default bounds", n)
	}
}

func count(fs []review.Finding, k review.Kind, subject string) int {
	n := 0
	for _, f := range fs {
		if f.Kind == k && f.Subject == subject {
			n++
		}
	}
	return n
}
