package vault

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/errs"
)

// TestCheckName: Key Vault's name rule (1 to 127 letters, digits and '-'),
// case folded to lower case, and a BadParameter/InvalidSecretName error of Kind
// Invalid otherwise.
func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"simple", "db-password", "db-password", true},
		{"upper case folds", "DB-Password", "db-password", true},
		{"digits only", "0123", "0123", true},
		{"one character", "a", "a", true},
		{"leading dash", "-a", "-a", true},
		{"127 characters", strings.Repeat("a", 127), strings.Repeat("a", 127), true},
		{"empty", "", "", false},
		{"128 characters", strings.Repeat("a", 128), "", false},
		{"underscore", "db_password", "", false},
		{"dot", "db.password", "", false},
		{"slash", "db/password", "", false},
		{"space", "db password", "", false},
		{"percent", "db%2Fpassword", "", false},
		{"non-ASCII letter", "passwörd", "", false},
		{"Kelvin sign", "\u212a", "", false},
		{"NUL", "a\x00b", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkName("test", tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("checkName(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkName(%q) = %q, nil; want an error", tc.in, got)
			}
			var c *Code
			if errs.KindOf(err) != errs.Invalid || !errors.As(err, &c) || c.Code != "BadParameter" || c.Inner != "InvalidSecretName" {
				t.Errorf("checkName(%q) = %v; want Kind Invalid with BadParameter/InvalidSecretName", tc.in, err)
			}
		})
	}
}

// TestCheckVersion: "" means the current version; otherwise 32 hex characters,
// folded to lower case. Anything else names no version (SecretNotFound), as
// Key Vault answers.
func TestCheckVersion(t *testing.T) {
	const v = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"current", "", "", true},
		{"lower hex", v, v, true},
		{"upper hex folds", strings.ToUpper(v), v, true},
		{"31 characters", v[:31], "", false},
		{"33 characters", v + "0", "", false},
		{"not hex", strings.Repeat("g", 32), "", false},
		{"versions (a route word)", "versions", "", false},
		{"32 bytes, non-ASCII", strings.Repeat("é", 16), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkVersion("test", tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("checkVersion(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
				}
				return
			}
			var c *Code
			if errs.KindOf(err) != errs.NotFound || !errors.As(err, &c) || c.Code != "SecretNotFound" {
				t.Errorf("checkVersion(%q) = %q, %v; want Kind NotFound with SecretNotFound", tc.in, got, err)
			}
		})
	}
}

// TestParseSettings: a vault without properties gets the defaults (90 days,
// no purge protection, every network); stored settings round-trip.
func TestParseSettings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props string
		want  Settings
		level string
	}{
		{"no properties", "", Settings{RetentionDays: 90}, "Recoverable+Purgeable"},
		{"zero retention means default", `{"retentionDays":0}`, Settings{RetentionDays: 90}, "Recoverable+Purgeable"},
		{"custom retention", `{"retentionDays":7}`, Settings{RetentionDays: 7}, "CustomizedRecoverable+Purgeable"},
		{"purge protection", `{"retentionDays":90,"purgeProtection":true}`, Settings{RetentionDays: 90, PurgeProtection: true}, "Recoverable"},
		{"both", `{"retentionDays":30,"purgeProtection":true,"networkAllow":["10.0.0.0/8"]}`,
			Settings{RetentionDays: 30, PurgeProtection: true, NetworkAllow: []string{"10.0.0.0/8"}}, "CustomizedRecoverable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSettings([]byte(tc.props))
			if err != nil {
				t.Fatalf("parseSettings(%s) = %v", tc.props, err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("parseSettings(%s) (-want +got):\n%s", tc.props, d)
			}
			if l := got.RecoveryLevel(); l != tc.level {
				t.Errorf("RecoveryLevel() = %s, want %s", l, tc.level)
			}
		})
	}
	if _, err := parseSettings([]byte(`{"retentionDays":"ninety"}`)); err == nil {
		t.Error("parseSettings accepted a retention that is not a number")
	}
}

// FuzzCheckName: checkName never panics, accepts exactly Key Vault's alphabet
// and length, returns lower case, and is idempotent.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"", "a", "db-password", "DB-PASSWORD", strings.Repeat("z", 127), strings.Repeat("z", 128),
		"a_b", "ä", "\u212a", "a\x00", "../etc", "%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := checkName("fuzz", s)
		valid := len(s) >= 1 && len(s) <= MaxNameLength
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				valid = false
			}
		}
		if valid != (err == nil) {
			t.Fatalf("checkName(%q) = %q, %v; valid by the rule: %v", s, got, err, valid)
		}
		if err != nil {
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("checkName(%q) error of kind %v, want Invalid", s, errs.KindOf(err))
			}
			return
		}
		if got != strings.ToLower(s) {
			t.Fatalf("checkName(%q) = %q, want it lower-cased", s, got)
		}
		if again, err := checkName("fuzz", got); err != nil || again != got {
			t.Fatalf("checkName(checkName(%q)) = %q, %v; want %q", s, again, err, got)
		}
	})
}
