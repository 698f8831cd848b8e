package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/store"
)

// This file is the management API of service principals, users, the caller
// (/api/v1/me), and the credential endpoints service principals share with
// managed identities (identities.go).

// maxSecretLifetimeDays bounds the lifetime a client secret may be given.
const maxSecretLifetimeDays = 3650

// principalHandler is a handler of a principal already found by its route.
type principalHandler func(w http.ResponseWriter, r *http.Request, p store.Principal) error

// onServicePrincipal finds the service principal named by the path's {appId}
// and hands it to h. A managed identity's client id is not found here: it is
// managed under /api/v1/identities, at its own scope.
func (s *Server) onServicePrincipal(h principalHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		appID := r.PathValue("appId")
		p, err := s.identity.PrincipalByAppID(r.Context(), appID)
		if errs.Is(err, errs.NotFound) || (err == nil && p.Kind != store.ServicePrincipal) {
			err = errs.E(errs.NotFound, "httpapi.servicePrincipal", "service principal with appId "+quoteShort(appID)+" was not found", err)
		}
		if err != nil {
			return err
		}
		return h(w, r, p)
	}
}

func (s *Server) createServicePrincipal(w http.ResponseWriter, r *http.Request) error {
	var req client.CreateServicePrincipalRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	lifetime, err := secretLifetime(req.SecretLifetimeDays)
	if err != nil {
		return err
	}
	created, err := s.identity.CreateServicePrincipal(r.Context(), req.DisplayName, lifetime)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/servicePrincipals/"+created.Principal.AppID)
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, client.CreatedServicePrincipal{
		AppID: created.Principal.AppID, DisplayName: created.Principal.Name, Password: created.Secret.Reveal(),
		Tenant: s.identity.TenantID(), ID: created.Principal.ID, PasswordExpires: created.Expires,
	})
}

func (s *Server) servicePrincipals(w http.ResponseWriter, r *http.Request) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	ps, next, err := s.identity.Principals(r.Context(), store.ServicePrincipal, page)
	if err != nil {
		return err
	}
	return listItems(w, r, ps, page, next, servicePrincipalOf)
}

func (s *Server) servicePrincipal(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	return writeJSON(w, http.StatusOK, servicePrincipalOf(p))
}

func (s *Server) deletePrincipal(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	if err := s.identity.DeletePrincipal(r.Context(), p.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) resetCredential(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	var req client.ResetCredentialRequest
	if r.ContentLength != 0 { // the body is optional
		if err := readJSON(w, r, &req); err != nil {
			return err
		}
	}
	lifetime, err := secretLifetime(req.SecretLifetimeDays)
	if err != nil {
		return err
	}
	reset, err := s.identity.ResetSecret(r.Context(), p.AppID, lifetime)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, client.ResetCredentialResult{
		AppID: p.AppID, Password: reset.Secret.Reveal(), Tenant: s.identity.TenantID(), PasswordExpires: reset.Expires,
	})
}

// secretLifetime turns secretLifetimeDays into a duration; 0 asks for the
// domain's default.
func secretLifetime(days int) (time.Duration, error) {
	if days < 0 || days > maxSecretLifetimeDays {
		return 0, errs.Invalidf("httpapi.secretLifetime", "secretLifetimeDays", "secretLifetimeDays must be from 1 to %d, or left out for one year", maxSecretLifetimeDays)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

func (s *Server) addCertificate(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	var req client.AddCertificateRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	c, err := s.identity.AddCertificate(r.Context(), p.AppID, req.Name, []byte(req.Certificate))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, credentialOf(c))
}

func (s *Server) addFederatedCredential(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	var req client.FederatedCredential
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	c, err := s.identity.AddFederatedCredential(r.Context(), p.AppID, identity.FederatedCredential{
		Name: req.Name, Issuer: req.Issuer, Subject: req.Subject, Audiences: req.Audiences,
		JWKSURI: req.JWKSURI, JWKS: req.JWKS, Description: req.Description,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, credentialOf(c))
}

func (s *Server) credentials(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	cs, err := s.identity.Credentials(r.Context(), p.ID)
	if err != nil {
		return err
	}
	return listItems(w, r, cs, store.Page{}, "", credentialOf)
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	if err := s.identity.DeleteCredential(r.Context(), p.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req client.CreateUserRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.identity.CreateUser(r.Context(), req.Name, identity.NewSecret(req.Password))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/users/"+p.Name)
	return writeJSON(w, http.StatusCreated, userOf(p))
}

func (s *Server) users(w http.ResponseWriter, r *http.Request) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	ps, next, err := s.identity.Principals(r.Context(), store.User, page)
	if err != nil {
		return err
	}
	return listItems(w, r, ps, page, next, userOf)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	p, err := s.identity.PrincipalByName(r.Context(), store.User, r.PathValue("name"))
	if err != nil {
		return err
	}
	return s.deletePrincipal(w, r, p)
}

// me describes the authenticated caller.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	c := caller(r.Context())
	if c == nil {
		return errs.E(errs.Unauthenticated, "httpapi.me", "", nil)
	}
	p, err := s.identity.Principal(r.Context(), c.ObjectID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, client.Caller{ID: p.ID, Kind: string(p.Kind), Name: p.Name, AppID: p.AppID, TenantID: c.TenantID})
}

func servicePrincipalOf(p store.Principal) client.ServicePrincipal {
	return client.ServicePrincipal{ID: p.ID, AppID: p.AppID, DisplayName: p.Name, Enabled: p.Enabled, Created: p.Created}
}

func userOf(p store.Principal) client.User {
	return client.User{ID: p.ID, Name: p.Name, Enabled: p.Enabled, Created: p.Created}
}

// credentialData reads the public fields of a stored credential's Data, which
// internal/identity encodes: a secret's hint, a certificate's x5t, a federated
// credential's issuer, subject and audiences. Nothing else of Data (a secret's
// hash) ever reaches the wire.
type credentialData struct {
	Hint      string   `json:"hint"`
	X5T       string   `json:"x5t"`
	Issuer    string   `json:"issuer"`
	Subject   string   `json:"subject"`
	Audiences []string `json:"audiences"`
}

func credentialOf(c store.Credential) client.Credential {
	var d credentialData
	_ = json.Unmarshal(c.Data, &d) // identity wrote it; a field it lacks stays empty
	out := client.Credential{ID: c.ID, Kind: string(c.Kind), Name: c.Name, Created: c.Created, Expires: c.Expires}
	switch c.Kind {
	case store.SecretCredential:
		out.Hint = d.Hint
	case store.CertificateCredential:
		out.Thumbprint = d.X5T
	case store.FederatedCredential:
		out.Issuer, out.Subject, out.Audiences = d.Issuer, d.Subject, d.Audiences
	}
	return out
}
