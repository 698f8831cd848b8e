package identity

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

func TestPasswordHash(t *testing.T) {
	const pw = "correct horse battery staple"
	phc, err := hashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, argonMemory, argonTime, argonThreads)
	if !strings.HasPrefix(phc, want) {
		t.Errorf("hashPassword = %s, want the prefix %s", phc, want)
	}
	again, err := hashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if again == phc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	parts := strings.Split(phc, "$")
	tests := []struct {
		name     string
		phc      string
		password string
		want     bool
	}{
		{"right password", phc, pw, true},
		{"right password, second hash", again, pw, true},
		{"wrong password", phc, "correct horse battery stapl", false},
		{"empty password", phc, "", false},
		{"password with a suffix", phc, pw + " ", false},
		{"argon2i", strings.Replace(phc, "$argon2id$", "$argon2i$", 1), pw, false},
		{"other version", strings.Replace(phc, "$v=19$", "$v=16$", 1), pw, false},
		{"salt not base64", strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"), pw, false},
		{"empty key", strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], ""}, "$"), pw, false},
		{"missing field", strings.Join(parts[:5], "$"), pw, false},
		{"bad parameters", strings.Join([]string{"", parts[1], parts[2], "m=x", parts[4], parts[5]}, "$"), pw, false},
		{"empty", "", pw, false},
		{"dummy hash", dummyPHC, pw, false},
	}
	for _, tc := range tests {
		if got := checkPassword(tc.phc, tc.password); got != tc.want {
			t.Errorf("checkPassword(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The dummy hash must cost what a real one costs, or timing tells which
	// user names exist.
	if !strings.HasPrefix(dummyPHC, want) {
		t.Errorf("dummyPHC = %s, want the parameters %s", dummyPHC, want)
	}
}

func TestPasswordGrant(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	pw := NewSecret("correct horse battery staple")
	alice, err := e.s.CreateUser(ctx, "alice@example.test", pw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(alice.PasswordHash, pw.Reveal()) || !strings.HasPrefix(alice.PasswordHash, "$argon2id$") {
		t.Fatalf("stored password hash %q", alice.PasswordHash)
	}
	bob, err := e.s.CreateUser(ctx, "bob", NewSecret("another long password"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SetEnabled(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	grant := func(user string, password Secret) (TokenResponse, error) {
		return e.s.Token(ctx, TokenRequest{GrantType: GrantPassword, Username: user, Password: password,
			Scope: vaultAudience + "/.default openid profile offline_access", Host: testHost})
	}
	resp, err := grant("alice@example.test", pw)
	if err != nil {
		t.Fatalf("password grant = %v", err)
	}
	c := resp.Claims
	if c.IDType != "user" || c.ObjectID != alice.ID || c.AppID != CLIClientID || c.AuthMethod != authPublic || c.PreferredUsername != "alice@example.test" {
		t.Errorf("user token claims = %+v", c)
	}
	if _, err := e.s.Verify(ctx, resp.AccessToken, vaultAudience); err != nil {
		t.Errorf("Verify of a user token = %v", err)
	}
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", "alice@example.test", "wrong password!!"},
		{"unknown user", "mallory", "correct horse battery staple"},
		{"disabled user", "bob", "another long password"},
		{"user name in another case", "Alice@example.test", "correct horse battery staple"},
	} {
		if _, err := grant(tc.user, NewSecret(tc.password)); err != errBadUser {
			t.Errorf("%s: password grant = %v, want the one invalid_grant answer", tc.name, err)
		}
	}
	for _, tc := range []struct{ name, user, password string }{
		{"short password", "carol", "short"},
		{"name with a space", "carol smith", "a long enough password"},
		{"name starting with a dot", ".carol", "a long enough password"},
	} {
		if _, err := e.s.CreateUser(ctx, tc.user, NewSecret(tc.password)); errs.KindOf(err) != errs.Invalid {
			t.Errorf("CreateUser(%s) = %v, want Invalid", tc.name, err)
		}
	}
	if _, err := e.s.CreateUser(ctx, "alice@example.test", pw); errs.KindOf(err) != errs.Conflict {
		t.Errorf("CreateUser of an existing name = %v, want Conflict", err)
	}
	// A service principal's display name is not a user name.
	sp := e.newSP(t, "svc")
	if _, err := grant("svc", sp.Secret); err != errBadUser {
		t.Errorf("password grant as a service principal = %v, want invalid_grant", err)
	}
	if _, err := e.s.PrincipalByName(ctx, store.User, "alice@example.test"); err != nil {
		t.Errorf("PrincipalByName = %v", err)
	}
}
