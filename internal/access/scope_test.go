package access

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"tenant", "/", "/"},
		{"hub", "/hubs/h1", "/hubs/h1"},
		{"project", "/hubs/h1/projects/p1", "/hubs/h1/projects/p1"},
		{"vault", "/hubs/h1/vaults/v1", "/hubs/h1/vaults/v1"},
		{"secret", "/hubs/h1/vaults/v1/secrets/db-password", "/hubs/h1/vaults/v1/secrets/db-password"},
		{"account", "/hubs/h1/accounts/openai-1", "/hubs/h1/accounts/openai-1"},
		{"hub connection", "/hubs/h1/connections/c1", "/hubs/h1/connections/c1"},
		{"project connection", "/hubs/h1/projects/p1/connections/c1", "/hubs/h1/projects/p1/connections/c1"},
		{"identity", "/identities/build.bot_1@ci", "/identities/build.bot_1@ci"},
		{"case folded", "/HUBS/Prod/Vaults/Payments", "/hubs/prod/vaults/payments"},
		{"secret name case folded", "/hubs/h/vaults/v/secrets/DB-Password", "/hubs/h/vaults/v/secrets/db-password"},
		{"trailing slash", "/hubs/h1/vaults/v1/", "/hubs/h1/vaults/v1"},
		{"hub name of 63", "/hubs/" + strings.Repeat("a", 63), "/hubs/" + strings.Repeat("a", 63)},
		{"secret name of 127", "/hubs/h/vaults/v/secrets/" + strings.Repeat("s", 127), "/hubs/h/vaults/v/secrets/" + strings.Repeat("s", 127)},
		{"identity name of 128", "/identities/" + strings.Repeat("i", 128), "/identities/" + strings.Repeat("i", 128)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("ParseScope(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseScopeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // fragments of the message: what is wrong and how to fix it
	}{
		{"empty", "", []string{"must start with '/'", "like /hubs/default/vaults/default"}},
		{"relative", "hubs/h1", []string{`"hubs/h1"`, "must start with '/'"}},
		{"collection without name", "/hubs", []string{"must alternate collection and name", "like /hubs/{hub}/vaults/{vault}"}},
		{"vault without name", "/hubs/h1/vaults", []string{"must alternate collection and name"}},
		{"double slash", "//", []string{"must alternate collection and name"}},
		{"two trailing slashes", "/hubs/h1//", []string{"must alternate collection and name"}},
		{"vault at the top", "/vaults/v1", []string{`"vaults" cannot appear here`, "below / come hubs, identities"}},
		{"unknown collection", "/hubs/h1/keys/k1", []string{`"keys" cannot appear here`, "below hubs come projects, vaults, accounts, connections"}},
		{"secret of a hub", "/hubs/h1/secrets/s1", []string{`"secrets" cannot appear here`, "below hubs come"}},
		{"project's vault", "/hubs/h1/projects/p1/vaults/v1", []string{`"vaults" cannot appear here`, "below projects come connections"}},
		{"below a vault", "/hubs/h1/vaults/v1/keys/k1", []string{`"keys" cannot appear here`, "below vaults come secrets"}},
		{"below an account", "/hubs/h1/accounts/a1/secrets/s1", []string{`"secrets" cannot appear here`, "nothing can appear below accounts"}},
		{"below a secret", "/hubs/h1/vaults/v1/secrets/s1/versions/x", []string{"nothing can appear below secrets"}},
		{"empty name", "/hubs//vaults/v1", []string{`name ""`, "1 to 63 letters, digits or '-'"}},
		{"underscore in hub", "/hubs/h_1", []string{`name "h_1"`, "1 to 63 letters, digits or '-'"}},
		{"hub name of 64", "/hubs/" + strings.Repeat("a", 64), []string{"1 to 63 letters, digits or '-'"}},
		{"secret name of 128", "/hubs/h/vaults/v/secrets/" + strings.Repeat("s", 128), []string{"1 to 127 letters, digits or '-'"}},
		{"dot in secret", "/hubs/h/vaults/v/secrets/a.b", []string{"1 to 127 letters, digits or '-'"}},
		{"space in identity", "/identities/a b", []string{"1 to 128 letters, digits, '-', '.', '_' or '@'"}},
		{"identity name of 129", "/identities/" + strings.Repeat("i", 129), []string{"1 to 128 letters"}},
		// Only ASCII folds: a Kelvin sign (U+212A) lower-cases to "k" in
		// Unicode, and must not alias /hubs/k.
		{"non-ASCII that folds to ASCII", "/hubs/\u212a", []string{"1 to 63 letters, digits or '-'"}},
		{"non-ASCII name", "/hubs/caf\u00e9", []string{"1 to 63 letters, digits or '-'"}},
		{"long input is clipped", "/" + strings.Repeat("x", 500), []string{"..."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Invalid || e.Field != "scope" {
				t.Fatalf("ParseScope(%q) = %q, %v, want an Invalid error for field scope", tc.in, got, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Msg, w) {
					t.Errorf("ParseScope(%q) message %q does not say %q", tc.in, e.Msg, w)
				}
			}
			if len(e.Msg) > 400 {
				t.Errorf("ParseScope(%q) message is %d bytes long; long input must be clipped", tc.in, len(e.Msg))
			}
		})
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		scope, ancestor string
		want            bool
	}{
		{"/", "/", true},
		{"/hubs/h1", "/", true},
		{"/hubs/h1/vaults/v1/secrets/s1", "/", true},
		{"/hubs/h1/vaults/v1", "/hubs/h1/vaults/v1", true},
		{"/hubs/h1/vaults/v1", "/hubs/h1", true},
		{"/hubs/h1/vaults/v1/secrets/s1", "/hubs/h1/vaults/v1", true},
		{"/hubs/h1", "/hubs/h1/vaults/v1", false},            // parent
		{"/hubs/h1/vaults/v2", "/hubs/h1/vaults/v1", false},  // sibling
		{"/hubs/h10", "/hubs/h1", false},                     // a name that starts with another
		{"/hubs/h1/vaults/v10", "/hubs/h1/vaults/v1", false}, // the same, deeper
		{"/hubs/h1-b/vaults/v1", "/hubs/h1", false},
		{"/", "/hubs/h1", false},
		{"/identities/h1", "/hubs/h1", false},
	}
	for _, tc := range tests {
		if got := Within(tc.scope, tc.ancestor); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.scope, tc.ancestor, got, tc.want)
		}
	}
}

func TestParent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", ""},
		{"/hubs/h1", "/"},
		{"/identities/bot", "/"},
		{"/hubs/h1/vaults/v1", "/hubs/h1"},
		{"/hubs/h1/projects/p1", "/hubs/h1"},
		{"/hubs/h1/vaults/v1/secrets/s1", "/hubs/h1/vaults/v1"},
		{"/hubs/h1/projects/p1/connections/c1", "/hubs/h1/projects/p1"},
	}
	for _, tc := range tests {
		if got := Parent(tc.in); got != tc.want {
			t.Errorf("Parent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		in   string
		want store.ResourceKind
	}{
		{"/", ""},
		{"/hubs/h1", store.Hub},
		{"/hubs/h1/projects/p1", store.Project},
		{"/hubs/h1/vaults/v1", store.Vault},
		{"/hubs/h1/accounts/a1", store.Account},
		{"/hubs/h1/connections/c1", ""},
		{"/hubs/h1/projects/p1/connections/c1", ""},
		{"/hubs/h1/vaults/v1/secrets/s1", ""},
		{"/identities/bot", ""},
	}
	for _, tc := range tests {
		if got := KindOf(tc.in); got != tc.want {
			t.Errorf("KindOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScopeBuilders(t *testing.T) {
	tests := []struct{ got, want string }{
		{HubScope("Prod"), "/hubs/prod"},
		{ProjectScope("Prod", "Chat"), "/hubs/prod/projects/chat"},
		{VaultScope("prod", "Payments"), "/hubs/prod/vaults/payments"},
		{AccountScope("prod", "OpenAI-1"), "/hubs/prod/accounts/openai-1"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
		if p, err := ParseScope(tc.got); err != nil || p != tc.got {
			t.Errorf("ParseScope(%q) = %q, %v, want it unchanged", tc.got, p, err)
		}
	}
}

// FuzzParseScope: ParseScope never panics, fails only with Invalid, and its
// output is canonical: it parses to itself, has no upper case, no trailing
// slash, and differs from the input only by ASCII case and one trailing slash.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"/", "", "//", "/hubs/h1", "/hubs/h1/", "/HUBS/H1/Vaults/V1", "/hubs/h1/vaults/v1/secrets/s1",
		"/hubs/h1/projects/p1/connections/c1", "/identities/a.b_c@d", "/hubs/\u212a", "/hubs//x", "hubs/h1",
		"/hubs/h1/accounts/a1/x/y", "/hubs/" + strings.Repeat("a", 64),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScope(s)
		if err != nil {
			if k := errs.KindOf(err); k != errs.Invalid {
				t.Fatalf("ParseScope(%q) error of kind %v, want Invalid: %v", s, k, err)
			}
			return
		}
		again, err := ParseScope(got)
		if err != nil || again != got {
			t.Fatalf("ParseScope(%q) = %q, which parses to %q, %v; want itself", s, got, again, err)
		}
		if strings.ToLower(got) != got {
			t.Fatalf("ParseScope(%q) = %q has upper case", s, got)
		}
		if got != "/" && strings.HasSuffix(got, "/") {
			t.Fatalf("ParseScope(%q) = %q ends with '/'", s, got)
		}
		trimmed := s
		if s != "/" {
			trimmed = strings.TrimSuffix(s, "/")
		}
		if len(got) != len(trimmed) || !strings.EqualFold(got, trimmed) {
			t.Fatalf("ParseScope(%q) = %q, want the input with ASCII lower-cased and no trailing slash", s, got)
		}
	})
}
