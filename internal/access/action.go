package access

import (
	"strings"
)

// An action names an operation: "{Provider}/{resourceType...}/{verb}", in
// Azure's shape under Latchkey's own namespace (Latchkey.KeyVault for
// Microsoft.KeyVault, and so on), so that Azure users read roles at a glance.
// Control-plane actions manage resources; data actions touch what they hold
// (secret values, model calls). A role's Actions never grant data actions and
// its DataActions never grant control actions.

// Plane says whether an action is a control-plane action or a data action.
type Plane uint8

// The planes.
const (
	Control Plane = iota
	Data
)

// Action is a known operation. Every route of the HTTP layer names one.
type Action struct {
	Name        string
	Plane       Plane
	Description string
}

// pattern is a compiled action pattern: a case-insensitive glob where '*'
// matches any run of characters, '/' included, as in Azure RBAC. A "/*/" also
// matches a single "/", so that Azure's built-in "vaults/*/read" covers reading
// the vault itself as well as what lies below it.
type pattern struct {
	parts []string // the lower-cased text between stars
	alt   []string // the parts with every "/*/" read as "/", if any
	raw   string
}

func compilePattern(p string) pattern {
	lp := strings.ToLower(p)
	cp := pattern{parts: strings.Split(lp, "*"), raw: p}
	if strings.Contains(lp, "/*/") {
		cp.alt = strings.Split(strings.ReplaceAll(lp, "/*/", "/"), "*")
	}
	return cp
}

// match reports whether the lower-cased action a matches.
func (p pattern) match(a string) bool {
	return globMatch(p.parts, a) || (p.alt != nil && globMatch(p.alt, a))
}

func globMatch(parts []string, a string) bool {
	if len(parts) == 1 {
		return a == parts[0]
	}
	if !strings.HasPrefix(a, parts[0]) {
		return false
	}
	a = a[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(a, mid)
		if i < 0 {
			return false
		}
		a = a[i+len(mid):]
	}
	return len(a) >= len(last) && strings.HasSuffix(a, last)
}

// validPattern checks an action pattern of a role definition: provider, at
// least one '/', characters of identifiers, '/', '.', and '*'.
func validPattern(p string) bool {
	if p == "*" {
		return true
	}
	if p == "" || len(p) > 256 || !strings.Contains(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("./*-_", c) >= 0) {
			return false
		}
	}
	return true
}

func lower(s string) string { return strings.ToLower(s) }
