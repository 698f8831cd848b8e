package httpapi

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/access"
)

func newTestServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	return New(opts)
}

// TestRoutesDeclareActions walks the route table: deny by default means a route
// without an action must not exist.
func TestRoutesDeclareActions(t *testing.T) {
	s := newTestServer(t, Options{})
	seen := map[string]bool{}
	for _, rt := range append(s.routes(), s.vaultRoutes()...) {
		if rt.action == "" {
			t.Errorf("route %q declares no action", rt.pattern)
		}
		if _, known := access.Lookup(string(rt.action)); !known && rt.action != ActionPublic && rt.action != ActionAuthenticated {
			t.Errorf("route %q action %q is not in access's catalog of actions", rt.pattern, rt.action)
		}
		if rt.handle == nil {
			t.Errorf("route %q has no handler", rt.pattern)
		}
		key := rt.pattern
		if rt.surface == surfaceVault {
			key = "vault " + key // the data plane has its own table
		}
		if seen[key] {
			t.Errorf("route %q is declared twice", rt.pattern)
		}
		seen[key] = true
	}
}
