package access

import (
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Scopes are paths on one tree (DESIGN.md), and a role assignment at a scope
// applies to everything below it:
//
//	/                                          the tenant
//	/hubs/{hub}                                a hub
//	/hubs/{hub}/projects/{project}             a project
//	/hubs/{hub}/vaults/{vault}                 a vault
//	/hubs/{hub}/vaults/{vault}/secrets/{name}  one secret (data-plane scopes only)
//	/hubs/{hub}/accounts/{account}             an AI services account
//	/hubs/{hub}/connections/{name}             a connection shared by the hub
//	/hubs/{hub}/projects/{p}/connections/{n}   a connection of one project
//	/identities/{name}                         a user-assigned managed identity
//
// Names are 1 to 63 characters of letters, digits and '-' (and '.', '_' for
// identities), case-insensitive; ParseScope returns them lower-cased.

// childKinds lists, for each parent shape, the collection names allowed below it.
var childKinds = map[string][]string{
	"":            {"hubs", "identities"},
	"hubs":        {"projects", "vaults", "accounts", "connections"},
	"projects":    {"connections"},
	"vaults":      {"secrets"},
	"accounts":    {},
	"connections": {},
	"secrets":     {},
	"identities":  {},
}

// ParseScope checks a scope path and returns it in canonical form: lower-case,
// no trailing slash. Errors are of Kind Invalid and say what is wrong.
func ParseScope(s string) (string, error) {
	const o = "access.ParseScope"
	if s == "/" {
		return "/", nil
	}
	if !strings.HasPrefix(s, "/") {
		return "", errs.Invalidf(o, "scope", "scope %q must start with '/', like /hubs/default/vaults/default", clip(s))
	}
	parts := strings.Split(strings.TrimSuffix(s[1:], "/"), "/")
	if len(parts)%2 != 0 {
		return "", errs.Invalidf(o, "scope", "scope %q must alternate collection and name, like /hubs/{hub}/vaults/{vault}", clip(s))
	}
	parent := ""
	for i := 0; i < len(parts); i += 2 {
		// Only ASCII folds: strings.ToLower would turn a Kelvin sign into "k"
		// and let a non-ASCII name alias an ASCII one.
		coll, name := asciiLower(parts[i]), asciiLower(parts[i+1])
		if !slices.Contains(childKinds[parent], coll) {
			if len(childKinds[parent]) == 0 {
				return "", errs.Invalidf(o, "scope", "scope %q: %q cannot appear here; nothing can appear below %s: end the scope there", clip(s), clip(coll), parent)
			}
			return "", errs.Invalidf(o, "scope", "scope %q: %q cannot appear here; below %s come %s", clip(s), clip(coll), where(parent), strings.Join(childKinds[parent], ", "))
		}
		if !validName(coll, name) {
			return "", errs.Invalidf(o, "scope", "scope %q: name %q must be %s", clip(s), clip(name), nameRule(coll))
		}
		parts[i], parts[i+1] = coll, name
		parent = coll
	}
	return "/" + strings.Join(parts, "/"), nil
}

// Within reports whether scope is ancestor or lies below it (both canonical).
func Within(scope, ancestor string) bool {
	return ancestor == "/" || scope == ancestor ||
		(len(scope) > len(ancestor) && scope[len(ancestor)] == '/' && scope[:len(ancestor)] == ancestor)
}

// Parent returns the scope above s ("/" for a top-level scope, "" for "/").
func Parent(s string) string {
	if s == "/" {
		return ""
	}
	i := strings.LastIndexByte(s, '/')
	j := strings.LastIndexByte(s[:i], '/')
	if j <= 0 {
		return "/"
	}
	return s[:j]
}

// KindOf returns the resource kind a canonical scope names, or "" for the
// tenant and scopes that are not resources (secrets, connections, identities).
func KindOf(scope string) store.ResourceKind {
	parts := strings.Split(strings.TrimPrefix(scope, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "hubs":
		return store.Hub
	case len(parts) == 4 && parts[0] == "hubs":
		switch parts[2] {
		case "projects":
			return store.Project
		case "vaults":
			return store.Vault
		case "accounts":
			return store.Account
		}
	}
	return ""
}

// HubScope builds the canonical scope of a hub from a name that is already
// valid; ProjectScope, VaultScope and AccountScope do the same below a hub.
func HubScope(hub string) string {
	return "/hubs/" + strings.ToLower(hub)
}

// ProjectScope builds the canonical scope of a project.
func ProjectScope(hub, project string) string {
	return HubScope(hub) + "/projects/" + strings.ToLower(project)
}

// VaultScope builds the canonical scope of a vault.
func VaultScope(hub, vault string) string {
	return HubScope(hub) + "/vaults/" + strings.ToLower(vault)
}

// AccountScope builds the canonical scope of an AI services account.
func AccountScope(hub, account string) string {
	return HubScope(hub) + "/accounts/" + strings.ToLower(account)
}

// validName checks a name of collection coll: secrets follow Key Vault (1 to
// 127 letters, digits and '-'), identities also allow '.', '_' and '@' (as user
// names do), everything else is a DNS label (1 to 63 letters, digits, '-').
func validName(coll, name string) bool {
	max, extra := 63, ""
	switch coll {
	case "secrets":
		max = 127
	case "identities":
		max, extra = 128, "._@"
	}
	if len(name) == 0 || len(name) > max {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// asciiLower lower-cases the ASCII letters of s and leaves every other byte.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func nameRule(coll string) string {
	switch coll {
	case "secrets":
		return "1 to 127 letters, digits or '-'"
	case "identities":
		return "1 to 128 letters, digits, '-', '.', '_' or '@'"
	}
	return "1 to 63 letters, digits or '-'"
}

func where(parent string) string {
	if parent == "" {
		return "/"
	}
	return parent
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
