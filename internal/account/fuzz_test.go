package account_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
)

// FuzzAuthenticateToken feeds arbitrary bearer tokens to an account: never
// a panic, never a caller unless the token is the one issued, and never the
// token in an error.
func FuzzAuthenticateToken(f *testing.F) {
	e := newEnv(f)
	e.create("aoai", "")
	good := e.token("aoai", e.listKeys("aoai").Key1)
	parts := strings.Split(good, ".")
	for _, seed := range []string{good, "", ".", "..", "a.b.c", parts[0] + ".." + parts[2], parts[0] + "." + parts[1] + ".AAAA",
		"eyJhbGciOiJIUzI1NiIsImtpZCI6ImxhdGNoa2V5LXN0cyJ9.e30.", strings.Repeat("x", 5000)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := e.accounts.AuthenticateToken(t.Context(), "aoai", tok, "10.0.0.1")
		if err == nil {
			if tok != good || c.Key != "key1" {
				t.Fatalf("AuthenticateToken(%q) accepted a token that was not issued", tok)
			}
			return
		}
		if errs.KindOf(err) != errs.Unauthenticated {
			t.Fatalf("AuthenticateToken(%q) = %v, want Unauthenticated", tok, err)
		}
		if len(tok) > 8 && strings.Contains(err.Error(), tok) {
			t.Fatalf("the error quotes the token: %v", err)
		}
		_ = account.IsToken(tok)
	})
}

// FuzzKeyName checks the parser of regenerateKey's keyName: key1 or key2 in
// any case, nothing else.
func FuzzKeyName(f *testing.F) {
	for _, s := range []string{"key1", "Key2", "KEY1", "key3", "", "key1 ", "ｋey1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := account.KeyName(s)
		lower := strings.ToLower(s)
		if ok := lower == "key1" || lower == "key2"; ok != (err == nil) || ok && n != lower {
			t.Fatalf("KeyName(%q) = %q, %v", s, n, err)
		}
	})
}
