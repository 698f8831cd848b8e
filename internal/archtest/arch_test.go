package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/latchkey/latchkey"

// domainOrder lists the domain packages in the order they may import each other:
// each may import the ones before it (docs/architecture.md).
var domainOrder = []string{
	"internal/install",
	"internal/audit",
	"internal/identity",
	"internal/access",
	"internal/vault",
	"internal/review",
	"internal/account",
	"internal/connection",
	"internal/policy",
}

// base packages every domain may import.
var base = []string{"internal/errs", "internal/seal", "internal/store"}

// backends and their private helpers: only cmd/latchkey and tests may import them.
var backends = []string{"internal/store/sqlstore", "internal/store/sqlite", "internal/store/postgres"}

// adapters speak a transport; domains must not import them.
var adapters = []string{"internal/httpapi", "internal/portal", "internal/gateway", "internal/devmode", "internal/msi", "internal/auditsink"}

// stdlibOnly packages import nothing from outside the standard library but the
// internal packages allowed them: they are the bottom of the graph.
var stdlibOnly = []string{"internal/errs", "internal/seal", "internal/store", "client"}

// forbiddenInDomain are standard or third-party imports a domain must not use.
// Domains count in atomics and expose Stats(); only adapters speak Prometheus.
var forbiddenInDomain = []string{"net/http", "database/sql", "github.com/jackc/", "modernc.org/sqlite", "github.com/prometheus/"}

// allowed returns the internal packages pkg may import, or nil when pkg may
// import anything (cmd/latchkey).
func allowed(pkg string) (internal []string, anything bool) {
	switch {
	case strings.HasPrefix(pkg, "cmd/"):
		return nil, true
	case pkg == "internal/errs", pkg == "client", pkg == "internal/archtest":
		return nil, false
	case pkg == "internal/seal", pkg == "internal/store":
		return []string{"internal/errs"}, false
	case pkg == "internal/store/storetest":
		return []string{"internal/errs", "internal/seal", "internal/store"}, false
	case slices.Contains(backends, pkg):
		return []string{"internal/errs", "internal/store", "internal/store/sqlstore"}, false
	case pkg == "internal/devmode":
		return []string{"internal/errs", "internal/seal"}, false
	case slices.Contains(adapters, pkg):
		return append(append([]string{"client"}, base...), domainOrder...), false
	}
	if i := slices.Index(domainOrder, pkg); i >= 0 {
		return append(slices.Clone(base), domainOrder[:i]...), false
	}
	return nil, false
}

type listedPackage struct {
	ImportPath string
	Doc        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(out)
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		p.ImportPath = strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages; is the module path %s?", len(pkgs), module)
	}
	return pkgs
}

// TestImportDirection enforces the rules of direction: domains never import
// transports, SQL or backends; backends import only the store contract; the
// base packages import (almost) nothing of ours.
func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		ok, anything := allowed(p.ImportPath)
		if anything {
			continue
		}
		isDomain := slices.Contains(domainOrder, p.ImportPath) || slices.Contains(base, p.ImportPath)
		for _, imp := range p.Imports {
			if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") && !strings.HasPrefix(imp, module+"/") &&
				slices.Contains(stdlibOnly, p.ImportPath) {
				t.Errorf("%s imports %s: it may import only the standard library", p.ImportPath, imp)
			}
			if own, found := strings.CutPrefix(imp, module+"/"); found {
				if !slices.Contains(ok, own) {
					t.Errorf("%s imports %s, which it must not (allowed: %v)", p.ImportPath, own, ok)
				}
				continue
			}
			if isDomain {
				for _, f := range forbiddenInDomain {
					if imp == f || strings.HasPrefix(imp, f) {
						t.Errorf("domain package %s imports %s: domains hold rules, not transports, SQL or metrics exporters", p.ImportPath, imp)
					}
				}
			}
		}
	}
}

// TestPackagesAreDocumented: every package says what it owns.
func TestPackagesAreDocumented(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // test-only folders
		}
		if len(strings.TrimSpace(p.Doc)) < 20 {
			t.Errorf("package %s has no doc comment saying what it owns", p.ImportPath)
		}
	}
}
