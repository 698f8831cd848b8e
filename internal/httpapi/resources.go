package httpapi

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/store"
)

// This file is the management API of the scope tree's records: hubs, projects
// and vaults (their behaviour comes with their own surfaces).

// resourceScope builds a route's scope from its path values.
func hubScope(r *http.Request) string { return access.HubScope(r.PathValue("hub")) }
func projectScope(r *http.Request) string {
	return access.ProjectScope(r.PathValue("hub"), r.PathValue("project"))
}
func vaultScope(r *http.Request) string {
	return access.VaultScope(r.PathValue("hub"), r.PathValue("vault"))
}
func accountScope(r *http.Request) string {
	return access.AccountScope(r.PathValue("hub"), r.PathValue("account"))
}

// vaultByNameScope resolves /api/v1/vaults/{vault} to the vault's scope. An
// unknown vault resolves to the tenant, so that only a caller allowed there
// learns it does not exist.
func (s *Server) vaultByNameScope(r *http.Request) string {
	v, err := s.access.ResourceByName(r.Context(), store.Vault, r.PathValue("vault"))
	if err != nil {
		return "/"
	}
	return v.Scope
}

func (s *Server) resourceOf(rec store.Resource) client.Resource {
	out := client.Resource{ID: rec.Scope, Kind: string(rec.Kind), Name: rec.Name, Created: rec.Created}
	if rec.Kind != store.Hub {
		out.Hub = strings.Split(rec.Scope, "/")[2]
	}
	if rec.Kind == store.Vault && s.vaultURL != nil {
		out.VaultURI = s.vaultURL(rec.Name)
	}
	return out
}

// putResource creates the resource at the route's scope, or returns it when it
// exists already (PUT is idempotent).
func (s *Server) putResource(scope func(*http.Request) string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sc := scope(r)
		if existing, err := s.access.Resource(r.Context(), sc); err == nil {
			return writeJSON(w, http.StatusOK, s.resourceOf(existing))
		}
		rec, err := s.access.CreateResource(r.Context(), caller(r.Context()).ObjectID, sc)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, s.resourceOf(rec))
	}
}

// vaultByName is the handler-side twin of vaultByNameScope: it names the vault
// that does not exist instead of acting on the tenant.
func (s *Server) vaultByName(r *http.Request) (string, error) {
	v, err := s.access.ResourceByName(r.Context(), store.Vault, r.PathValue("vault"))
	if err != nil {
		return "", err
	}
	return v.Scope, nil
}

func (s *Server) getResource(scope func(*http.Request) string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, err := s.access.Resource(r.Context(), scope(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, s.resourceOf(rec))
	}
}

func (s *Server) deleteResource(scope func(*http.Request) string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.access.DeleteResource(r.Context(), caller(r.Context()).ObjectID, scope(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// listResources lists resources of kind k under the parent the route names
// ("" for anywhere), keeping those the caller may read (readAction there).
func (s *Server) listResources(k store.ResourceKind, parent func(*http.Request) string, readAction string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := pageOf(r)
		if err != nil {
			return err
		}
		under := ""
		if parent != nil {
			under = parent(r)
		}
		recs, next, err := s.access.Resources(r.Context(), k, under, p)
		if err != nil {
			return err
		}
		me := caller(r.Context()).ObjectID
		visible := recs[:0]
		for _, rec := range recs {
			if s.access.Decide(me, readAction, rec.Scope).Allowed {
				visible = append(visible, rec)
			}
		}
		return listItems(w, r, visible, p, next, s.resourceOf)
	}
}

func (s *Server) getVaultByName(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.vaultByName(r)
	if err != nil {
		return err
	}
	return s.getResource(func(*http.Request) string { return sc })(w, r)
}

func (s *Server) deleteVaultByName(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.vaultByName(r)
	if err != nil {
		return err
	}
	return s.deleteResource(func(*http.Request) string { return sc })(w, r)
}
