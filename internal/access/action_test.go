package access

import (
	"slices"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		action  string
		want    bool
	}{
		{"exact", "Latchkey.KeyVault/vaults/read", "Latchkey.KeyVault/vaults/read", true},
		{"case-insensitive pattern", "LATCHKEY.keyvault/VAULTS/Read", "Latchkey.KeyVault/vaults/read", true},
		{"case-insensitive action", "Latchkey.CognitiveServices/accounts/listkeys/action", "Latchkey.CognitiveServices/accounts/listKeys/action", true},
		{"exact is not a prefix", "Latchkey.KeyVault/vaults/read", "Latchkey.KeyVault/vaults/readx", false},
		{"exact is not a suffix", "KeyVault/vaults/read", "Latchkey.KeyVault/vaults/read", false},
		{"star alone", "*", "Latchkey.Identity/users/write", true},
		{"star crosses slashes", "Latchkey.KeyVault/*", "Latchkey.KeyVault/vaults/secrets/getSecret/action", true},
		{"*/read", "*/read", "Latchkey.KeyVault/vaults/read", true},
		{"*/read, deep", "*/read", "Latchkey.Authorization/roleAssignments/read", true},
		{"*/read is not */write", "*/read", "Latchkey.KeyVault/vaults/write", false},
		{"*/read needs the slash", "*/read", "Latchkey.KeyVault/vaults/secrets/readMetadata/action", false},
		{"vaults/*/read covers the vault", "Latchkey.KeyVault/vaults/*/read", "Latchkey.KeyVault/vaults/read", true},
		{"vaults/*/read covers below", "Latchkey.KeyVault/vaults/*/read", "Latchkey.KeyVault/vaults/secrets/read", true},
		{"vaults/*/read covers deep below", "Latchkey.KeyVault/vaults/*/read", "Latchkey.KeyVault/vaults/secrets/versions/read", true},
		{"vaults/*/read is not write", "Latchkey.KeyVault/vaults/*/read", "Latchkey.KeyVault/vaults/write", false},
		{"vaults/*/read is not readMetadata", "Latchkey.KeyVault/vaults/*/read", "Latchkey.KeyVault/vaults/secrets/readMetadata/action", false},
		{"vaults/*/read is not vaultsX", "Latchkey.KeyVault/vaults/*/read", "Latchkey.KeyVault/vaultsX/read", false},
		{"secrets/* is not vaultsX", "Latchkey.KeyVault/vaults/secrets/*", "Latchkey.KeyVault/vaultsX/secrets/getSecret/action", false},
		{"secrets/* is not secretsX", "Latchkey.KeyVault/vaults/secrets/*", "Latchkey.KeyVault/vaults/secretsX/getSecret/action", false},
		{"secrets/* matches a secret action", "Latchkey.KeyVault/vaults/secrets/*", "Latchkey.KeyVault/vaults/secrets/purge/action", true},
		{"secrets/* needs something after the slash", "Latchkey.KeyVault/vaults/secrets/*", "Latchkey.KeyVault/vaults/secrets", false},
		{"provider star is not another provider", "Latchkey.KeyVault/*", "Latchkey.KeyVaultX/vaults/read", false},
		{"workspaces/*/action", "Latchkey.MachineLearningServices/workspaces/*/action", "Latchkey.MachineLearningServices/workspaces/connections/listsecrets/action", true},
		{"two stars", "Latchkey.*/*/delete", "Latchkey.Authorization/roleAssignments/delete", true},
		{"two stars, wrong verb", "Latchkey.*/*/delete", "Latchkey.Authorization/roleAssignments/write", false},
		{"Authorization/*/Write", "Latchkey.Authorization/*/Write", "Latchkey.Authorization/roleAssignments/write", true},
		{"middle part used once", "a*b*b", "ab", false},
		{"middle and end overlap", "a*bb*b", "abbb", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := compilePattern(tc.pattern).match(lower(tc.action)); got != tc.want {
				t.Errorf("compilePattern(%q).match(%q) = %v, want %v", tc.pattern, tc.action, got, tc.want)
			}
		})
	}
}

func TestValidPattern(t *testing.T) {
	tests := []struct {
		p    string
		want bool
	}{
		{"*", true},
		{"*/read", true},
		{"Latchkey.KeyVault/vaults/secrets/*", true},
		{"Latchkey.Key_Vault-1/vaults/read", true},
		{"", false},
		{"read", false},
		{"Latchkey.KeyVault/vaults/read ", false},
		{"Latchkey.KeyVault/vaults/{name}", false},
		{"Latchkey.KeyVault/vaults/r\u00e9ad", false},
		{"Latchkey/" + strings.Repeat("a", 256), false},
	}
	for _, tc := range tests {
		if got := validPattern(tc.p); got != tc.want {
			t.Errorf("validPattern(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestCatalog(t *testing.T) {
	if got := len(Actions()); got != len(catalog) {
		t.Errorf("len(Actions()) = %d, want %d", got, len(catalog))
	}
	for _, a := range Actions() {
		if !validPattern(a.Name) || strings.Contains(a.Name, "*") {
			t.Errorf("catalog action %q is not a literal action name", a.Name)
		}
		got, ok := Lookup(strings.ToUpper(a.Name))
		if !ok || got != a {
			t.Errorf("Lookup(%q) = %+v, %v, want %+v", strings.ToUpper(a.Name), got, ok, a)
		}
		// Data actions: secret operations, model calls, connection credentials.
		wantData := slices.Contains([]string{SecretsGet, SecretsSet, SecretsReadMetadata, SecretsUpdate, SecretsDelete,
			SecretsBackup, SecretsRestore, SecretsRecover, SecretsPurge, AccountsInference, ConnectionsListSecrets, ConnectionsProxy}, a.Name)
		if (a.Plane == Data) != wantData {
			t.Errorf("action %s has plane %v; want data plane %v", a.Name, a.Plane, wantData)
		}
		if a.Description == "" {
			t.Errorf("action %s has no description", a.Name)
		}
	}
	if _, ok := Lookup("Latchkey.KeyVault/vaults/*"); ok {
		t.Errorf("Lookup of a pattern succeeded; only literal actions are known")
	}
}

// FuzzPattern: compiling and matching never panic; a pattern without '*'
// matches exactly its lower-cased self; a valid pattern matches itself with
// its stars removed, case folded.
func FuzzPattern(f *testing.F) {
	seeds := [][2]string{
		{"*", "Latchkey.KeyVault/vaults/read"},
		{"*/read", "latchkey.keyvault/vaults/read"},
		{"Latchkey.KeyVault/vaults/*/read", "latchkey.keyvault/vaults/read"},
		{"Latchkey.KeyVault/vaults/secrets/*", "latchkey.keyvault/vaultsx/secrets/get"},
		{"a*b*b", "ab"},
		{"/*/", "/"},
		{"**", ""},
		{"x/*/*/y", "x/y"},
		{"K", "\u212a"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, a string) {
		cp := compilePattern(p)
		cp.match(lower(a))
		cp.match(a)
		if !strings.Contains(p, "*") {
			if !cp.match(lower(p)) {
				t.Fatalf("pattern %q does not match its lower-cased self %q", p, lower(p))
			}
			if got, want := cp.match(lower(a)), lower(a) == lower(p); got != want {
				t.Fatalf("pattern %q match(%q) = %v, want %v (a pattern without '*' matches only itself)", p, lower(a), got, want)
			}
			return
		}
		// Only for valid (ASCII) patterns: removing a '*' from arbitrary bytes
		// can join a valid UTF-8 sequence that lower-cases differently.
		if bare := lower(strings.ReplaceAll(p, "*", "")); validPattern(p) && !cp.match(bare) {
			t.Fatalf("pattern %q does not match %q, itself with every '*' matching nothing", p, bare)
		}
	})
}
