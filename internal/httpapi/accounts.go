package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
)

// This file is the management API of AI services accounts: their records
// (under their hub, and by name, as names are unique in the tenant), keys,
// key rotation and key uses. Their data plane is accountdata.go. The account
// service authorizes each operation on the account's scope.

// accountService returns the account service, or an Unavailable error when
// this server serves no accounts.
func (s *Server) accountService() (*account.Service, error) {
	if s.accounts == nil {
		return nil, errs.E(errs.Unavailable, "httpapi.accounts", "this server does not serve AI services accounts", nil)
	}
	return s.accounts, nil
}

// accountView is an account as the management API shows it.
func (s *Server) accountView(r *http.Request, a account.Account) client.Account {
	out := client.Account{
		ID: a.Scope, Kind: "Account", Name: a.Name, Hub: a.Hub, AccountKind: a.Kind,
		Endpoint: "https://" + publicHost(r) + "/accounts/" + a.Name,
		Upstream: client.AccountUpstream{URL: a.Upstream.URL, Auth: a.Upstream.Auth, KeyHeader: a.Upstream.KeyHeader,
			Vault: a.Upstream.Vault, Secret: a.Upstream.Secret, Audience: a.Upstream.Audience},
		Deployments: a.Deployments,
		Limits:      client.AccountLimits{RequestsPerMinute: a.Limits.RequestsPerMinute, TokensPerMinute: a.Limits.TokensPerMinute},
		Identity: client.AccountIdentity{Type: "SystemAssigned", PrincipalID: a.Identity.PrincipalID, ClientID: a.Identity.ClientID,
			TenantID: s.identity.TenantID()},
		ActiveKey: a.ActiveKey, DisableLocalAuth: a.DisableLocalAuth, Created: a.Created, Updated: a.Updated,
	}
	if a.Identity.PrincipalID == "" {
		out.Identity = client.AccountIdentity{Type: "None"}
	}
	if !a.LastRotated.IsZero() {
		t := a.LastRotated
		out.LastRotated = &t
	}
	if rot := a.Rotation; rot != nil {
		out.Rotation = &client.AccountRotation{Step: rot.Step, Started: rot.Started, StepStarted: rot.StepStarted}
		if !rot.Checked.IsZero() {
			t := rot.Checked
			out.Rotation.Checked = &t
		}
	}
	return out
}

// specOf turns a request body into what the account service sets.
func specOf(req client.AccountRequest) account.Spec {
	spec := account.Spec{Kind: req.Kind, Deployments: req.Deployments, DisableLocalAuth: req.DisableLocalAuth}
	if l := req.Limits; l != nil {
		spec.Limits = &account.Limits{RequestsPerMinute: l.RequestsPerMinute, TokensPerMinute: l.TokensPerMinute}
	}
	if u := req.Upstream; u != nil {
		spec.UpstreamURL, spec.UpstreamAuth, spec.KeyHeader, spec.Vault, spec.Audience = u.URL, u.Auth, u.KeyHeader, u.Vault, u.Audience
		if u.Key != nil {
			k := account.NewKey(*u.Key)
			spec.UpstreamKey = &k
		}
	}
	return spec
}

// readAccountRequest reads the body of PUT and PATCH; an empty body sets
// nothing.
func readAccountRequest(w http.ResponseWriter, r *http.Request) (client.AccountRequest, error) {
	var req client.AccountRequest
	if r.ContentLength == 0 {
		return req, nil
	}
	return req, readJSON(w, r, &req)
}

// putAccount creates the account at /hubs/{hub}/accounts/{account}, or
// changes what the body sets of it: 201 for a new account, 200 otherwise.
func (s *Server) putAccount(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.accountService()
	if err != nil {
		return err
	}
	req, err := readAccountRequest(w, r)
	if err != nil {
		return err
	}
	if req.Name != "" && !strings.EqualFold(req.Name, r.PathValue("account")) {
		return errs.Invalidf("httpapi.putAccount", "name", "the body names account %s but the path %s: leave name out, or make them agree", quoteShort(req.Name), quoteShort(r.PathValue("account")))
	}
	a, created, err := svc.Put(r.Context(), caller(r.Context()).ObjectID, r.PathValue("hub"), r.PathValue("account"), specOf(req))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, s.accountView(r, a))
}

// routeAccount returns the account service and the name of the account the
// route names, checking that it is in the path's hub when the path has one.
// The operation itself authorizes the caller.
func (s *Server) routeAccount(r *http.Request) (*account.Service, string, error) {
	svc, err := s.accountService()
	if err != nil {
		return nil, "", err
	}
	name := r.PathValue("account")
	if hub := r.PathValue("hub"); hub != "" {
		a, err := svc.Endpoint(r.Context(), name)
		if err != nil {
			return nil, "", err
		}
		if !strings.EqualFold(hub, a.Hub) {
			return nil, "", errs.E(errs.NotFound, "httpapi.account", "hub "+quoteShort(hub)+" has no account "+a.Name, nil)
		}
	}
	return svc, name, nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	svc, name, err := s.routeAccount(r)
	if err != nil {
		return err
	}
	a, err := svc.Get(r.Context(), caller(r.Context()).ObjectID, name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.accountView(r, a))
}

func (s *Server) updateAccount(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.accountService()
	if err != nil {
		return err
	}
	req, err := readAccountRequest(w, r)
	if err != nil {
		return err
	}
	if req.Name != "" {
		return errs.Invalidf("httpapi.updateAccount", "name", "an account cannot be renamed: leave name out")
	}
	a, err := svc.Update(r.Context(), caller(r.Context()).ObjectID, r.PathValue("account"), specOf(req))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.accountView(r, a))
}

func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) error {
	svc, name, err := s.routeAccount(r)
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), caller(r.Context()).ObjectID, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listAccounts lists the accounts of the path's hub, or of every hub, that
// the caller may read.
func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.accountService()
	if err != nil {
		return err
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	as, next, err := svc.List(r.Context(), caller(r.Context()).ObjectID, r.PathValue("hub"), p)
	if err != nil {
		return err
	}
	return listItems(w, r, as, p, next, func(a account.Account) client.Account { return s.accountView(r, a) })
}

func keysView(ks account.Keys) client.AccountKeys {
	return client.AccountKeys{Key1: ks.Key1.Reveal(), Key2: ks.Key2.Reveal()}
}

// listKeys answers Azure's listKeys: {"key1": ..., "key2": ...}.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	svc, name, err := s.routeAccount(r)
	if err != nil {
		return err
	}
	ks, err := svc.ListKeys(r.Context(), caller(r.Context()).ObjectID, name)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, keysView(ks))
}

// regenerateKey answers Azure's regenerateKey ({"keyName": "Key1"}) with both
// keys.
func (s *Server) regenerateKey(w http.ResponseWriter, r *http.Request) error {
	var req client.RegenerateKeyRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	svc, name, err := s.routeAccount(r)
	if err != nil {
		return err
	}
	ks, err := svc.RegenerateKey(r.Context(), caller(r.Context()).ObjectID, name, req.KeyName)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, keysView(ks))
}

// activeKey returns the key consumers should use now, with its name.
func (s *Server) activeKey(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.accountService()
	if err != nil {
		return err
	}
	name, key, err := svc.ActiveKey(r.Context(), caller(r.Context()).ObjectID, r.PathValue("account"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, client.ActiveKey{KeyName: name, Key: key.Reveal()})
}

// rotateKeys takes the next step of the account's key rotation.
func (s *Server) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.accountService()
	if err != nil {
		return err
	}
	var req client.RotateKeysRequest
	if r.ContentLength != 0 {
		if err := readJSON(w, r, &req); err != nil {
			return err
		}
	}
	opts := account.RotateOptions{Force: req.Force}
	if req.QuietPeriod != "" {
		d, err := time.ParseDuration(req.QuietPeriod)
		if err != nil || d <= 0 {
			return errs.Invalidf("httpapi.rotateKeys", "quietPeriod", "quietPeriod %s is not a positive duration such as 15m or 30s", quoteShort(req.QuietPeriod))
		}
		opts.QuietPeriod = d
	}
	st, err := svc.RotateKeys(r.Context(), caller(r.Context()).ObjectID, r.PathValue("account"), opts)
	if err != nil {
		return err
	}
	out := client.RotationStep{Step: st.Step, Action: st.Action, Done: st.Done, ActiveKey: st.ActiveKey, Held: keyUsesView(st.Held), Finished: st.Finished}
	if !st.RetryAt.IsZero() {
		t := st.RetryAt
		out.RetryAt = &t
	}
	return writeJSON(w, http.StatusOK, out)
}

func keyUsesView(us []account.KeyUse) []client.KeyUse {
	if len(us) == 0 {
		return nil
	}
	out := make([]client.KeyUse, len(us))
	for i, u := range us {
		out[i] = client.KeyUse{KeyName: u.Key, Caller: u.Caller, Via: u.Via, LastUsed: u.LastUsed}
	}
	return out
}

// keyUsage lists the latest use of each current key by each caller.
func (s *Server) keyUsage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.accountService()
	if err != nil {
		return err
	}
	us, err := svc.KeyUses(r.Context(), caller(r.Context()).ObjectID, r.PathValue("account"))
	if err != nil {
		return err
	}
	list := client.List[client.KeyUse]{Value: keyUsesView(us)}
	if list.Value == nil {
		list.Value = []client.KeyUse{}
	}
	return writeJSON(w, http.StatusOK, list)
}

// usage answers what the account's callers used through this server's
// gateway since it started.
func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.accountService()
	if err != nil {
		return err
	}
	a, err := svc.Get(r.Context(), caller(r.Context()).ObjectID, r.PathValue("account"))
	if err != nil {
		return err
	}
	if s.gateway == nil {
		return errs.E(errs.Unavailable, "httpapi.usage", "this server forwards no model calls, so it meters none", nil)
	}
	out := s.gateway.Usage(a.Name)
	if out.Callers == nil {
		out.Callers = []client.CallerUsage{}
	}
	return writeJSON(w, http.StatusOK, out)
}
