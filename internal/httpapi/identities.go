package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// This file is the management API of user-assigned managed identities, which
// live at /identities/{name}. Their credential endpoints are shared with
// service principals (principals.go).

// identityScopePrefix is where user-assigned managed identities live.
const identityScopePrefix = "/identities/"

// identityScope is the scope of a route that names an identity: the access
// decision is taken on /identities/{name}. The name is escaped so that a '/'
// smuggled in as %2F cannot make it look like another scope.
func identityScope(r *http.Request) string {
	return identityScopePrefix + url.PathEscape(r.PathValue("name"))
}

// onIdentity finds the user-assigned managed identity named by the path's
// {name} and hands it to h. System-assigned identities (whose scope is their
// resource's) are not found here.
func (s *Server) onIdentity(h principalHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		p, err := s.identity.PrincipalByName(r.Context(), store.ManagedIdentity, name)
		if errs.Is(err, errs.NotFound) || (err == nil && p.Scope != identityScopePrefix+name) {
			err = errs.E(errs.NotFound, "httpapi.identity", "managed identity "+quoteShort(name)+" was not found", err)
		}
		if err != nil {
			return err
		}
		return h(w, r, p)
	}
}

func (s *Server) createIdentity(w http.ResponseWriter, r *http.Request) error {
	var req client.CreateIdentityRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.identity.CreateManagedIdentity(r.Context(), req.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/identities/"+url.PathEscape(p.Name))
	return writeJSON(w, http.StatusCreated, managedIdentityOf(p))
}

// identities lists the user-assigned managed identities. System-assigned ones
// are left out, so a page may hold fewer than maxresults items and still have
// a next page.
func (s *Server) identities(w http.ResponseWriter, r *http.Request) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	ps, next, err := s.identity.Principals(r.Context(), store.ManagedIdentity, page)
	if err != nil {
		return err
	}
	userAssigned := ps[:0]
	for _, p := range ps {
		if strings.HasPrefix(p.Scope, identityScopePrefix) {
			userAssigned = append(userAssigned, p)
		}
	}
	return listItems(w, r, userAssigned, page, next, managedIdentityOf)
}

func (s *Server) managedIdentity(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	return writeJSON(w, http.StatusOK, managedIdentityOf(p))
}

// identityToken issues an access token of the identity to an operator allowed
// to assign it: what `latchkey run` hands to the process it starts.
func (s *Server) identityToken(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	var req client.IdentityTokenRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkResource(req.Resource); err != nil {
		return err
	}
	tok, err := s.identity.IssueFor(r.Context(), p, req.Resource, publicHost(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, client.IdentityToken{
		AccessToken: tok.AccessToken, ExpiresOn: tok.Claims.Expiry, Resource: req.Resource,
		ClientID: p.AppID, TokenType: "Bearer",
	})
}

// checkResource accepts an absolute URI naming a resource, such as
// https://vault.azure.net or api://latchkey, and refuses a scope.
func checkResource(resource string) error {
	const o = "httpapi.identityToken"
	if resource == "" {
		return errs.Invalidf(o, "resource", "give the resource the token is for, such as https://vault.azure.net")
	}
	if base, ok := strings.CutSuffix(resource, "/.default"); ok {
		return errs.Invalidf(o, "resource", "resource is a resource URI, not a scope: drop /.default and send %s", quoteShort(base))
	}
	u, err := url.Parse(resource)
	if err != nil || !u.IsAbs() || (u.Host == "" && u.Opaque == "") || strings.ContainsAny(resource, " \t\r\n") {
		return errs.Invalidf(o, "resource", "resource %s is not an absolute URI: use one such as https://vault.azure.net", quoteShort(resource))
	}
	return nil
}

func managedIdentityOf(p store.Principal) client.ManagedIdentity {
	return client.ManagedIdentity{
		ID: p.ID, Name: p.Name, ClientID: p.AppID, PrincipalID: p.ID, Scope: p.Scope,
		Enabled: p.Enabled, Created: p.Created,
	}
}
