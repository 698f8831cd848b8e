package httpapi

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/connection"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file is the management API of connections, shared by a hub or owned
// by a project, and the connection proxy's route. The connection service
// authorizes every operation itself, from where the caller stands (a
// project's members reach their hub's shared connections through it), and
// the handlers note the connection's scope for the request's audit event.

// errNoConnections answers the connection routes of a server without a
// connection service.
var errNoConnections = errs.E(errs.Unavailable, "httpapi.connections", "this server serves no connections", nil)

// connRef is the connection a management route names.
func connRef(r *http.Request) connection.Ref {
	return connection.Ref{Hub: r.PathValue("hub"), Project: r.PathValue("project"), Name: r.PathValue("name")}
}

// hubConnectionScope and projectConnectionScope are the scopes of routes
// that act on a connection in place (writes, and reads of a hub's own).
func hubConnectionScope(r *http.Request) string {
	return hubScope(r) + "/connections/" + strings.ToLower(r.PathValue("name"))
}

func projectConnectionScope(r *http.Request) string {
	return projectScope(r) + "/connections/" + strings.ToLower(r.PathValue("name"))
}

// connectionCaller is the caller as the connection service's audit records
// name it: who, from where, in which request.
func (s *Server) connectionCaller(r *http.Request) connection.Caller {
	c := caller(r.Context())
	e := audit.Event{Time: s.now(), CorrelationID: requestID(r.Context()), PrincipalID: c.ObjectID, PrincipalName: c.AppID,
		AuthMethod: "bearer", PrincipalType: principalType(c.IDType, c.ManagedIdentity)}
	if c.Name != "" {
		e.PrincipalName = c.Name
	}
	if ip, err := netip.ParseAddr(s.clientIP(r)); err == nil {
		e.ClientIP = ip
	}
	return connection.Caller{ID: c.ObjectID, Audit: e}
}

// connectionOf is the wire form of c, with creds when not nil.
func connectionOf(c *connection.Connection, creds connection.Credentials) client.Connection {
	out := client.Connection{ID: c.Scope, Name: c.Name, Type: client.ConnectionType, Hub: c.Hub, Project: c.Project}
	p := &out.Properties
	p.Category, p.AuthType, p.Target, p.Description = string(c.Category), string(c.AuthType), c.Target, c.Description
	p.Metadata, p.Tags, p.Account, p.Vault, p.Identity = c.Metadata, c.Tags, c.Account, c.Vault, c.Identity
	p.ReadersReadDatastoreCredentials = c.ReadersReadDatastoreCredentials
	if c.Category == connection.CategoryKeyVault && p.ReadersReadDatastoreCredentials == nil {
		on := true
		p.ReadersReadDatastoreCredentials = &on
	}
	if c.Proxy != nil {
		p.Proxy = &client.ConnectionProxy{Header: c.Proxy.Header, Prefix: c.Proxy.Prefix, Key: c.Proxy.Key,
			RequestsPerMinute: c.Proxy.RequestsPerMinute, TokensPerMinute: c.Proxy.TokensPerMinute}
	}
	p.IsSharedToAll, p.CreatedBy, p.Created, p.Updated = c.Shared(), c.CreatedBy, c.Created, c.Updated
	for _, sr := range c.Secrets {
		p.Secrets = append(p.Secrets, client.ConnectionSecret{Field: sr.Field, Vault: sr.Vault, Name: sr.Name})
	}
	if creds != nil {
		p.Credentials = credentialsOf(creds)
	}
	return out
}

// credentialsOf is the wire form of credentials; the one place their values
// leave the process (listsecrets).
func credentialsOf(creds connection.Credentials) *client.ConnectionCredentials {
	return client.NewConnectionCredentials(creds.Plain())
}

// credentialsFrom reads credentials off the wire.
func credentialsFrom(c *client.ConnectionCredentials) connection.Credentials {
	if c == nil {
		return nil
	}
	out := connection.Credentials{}
	put := func(field, v string) {
		if v != "" {
			out[field] = vault.NewValue([]byte(v))
		}
	}
	put("key", c.Key)
	put("sas", c.SAS)
	put("clientId", c.ClientID)
	put("clientSecret", c.ClientSecret)
	put("tenantId", c.TenantID)
	put("resourceId", c.ResourceID)
	for k, v := range c.Keys {
		out[connection.CustomKeyPrefix+k] = vault.NewValue([]byte(v))
	}
	return out
}

func proxyFrom(p *client.ConnectionProxy) *connection.ProxyHeader {
	if p == nil {
		return nil
	}
	return &connection.ProxyHeader{Header: p.Header, Prefix: p.Prefix, Key: p.Key,
		RequestsPerMinute: p.RequestsPerMinute, TokensPerMinute: p.TokensPerMinute}
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) error {
	if s.connections == nil {
		return errNoConnections
	}
	ref := connRef(r)
	noteAudit(r.Context()).scope = projectOrHub(ref)
	cs, err := s.connections.List(r.Context(), caller(r.Context()).ObjectID, ref.Hub, ref.Project)
	if err != nil {
		return err
	}
	items := make([]client.Connection, 0, len(cs))
	for _, c := range cs {
		items = append(items, connectionOf(c, nil))
	}
	return writeJSON(w, http.StatusOK, client.List[client.Connection]{Value: items})
}

// projectOrHub is the scope a listing is at.
func projectOrHub(ref connection.Ref) string {
	scope := ref.Scope()
	return scope[:strings.LastIndex(scope, "/connections/")]
}

func (s *Server) getConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := s.readConnection(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, connectionOf(c, nil))
}

// readConnection returns the connection the request's path names, if the
// caller may read it, and makes it the scope of the request's audit event
// (the hub's shared connection's, when reached through a project).
func (s *Server) readConnection(r *http.Request) (*connection.Connection, error) {
	if s.connections == nil {
		return nil, errNoConnections
	}
	ref := connRef(r)
	noteAudit(r.Context()).scope = ref.Scope()
	c, err := s.connections.Get(r.Context(), caller(r.Context()).ObjectID, ref)
	if err != nil {
		return nil, err
	}
	noteAudit(r.Context()).scope = c.Scope
	return c, nil
}

// connectionUsage answers what the callers of a connection's proxy used
// through this server's gateway since it started. It takes what reading the
// connection takes (through a project, its hub's shared one too).
func (s *Server) connectionUsage(w http.ResponseWriter, r *http.Request) error {
	c, err := s.readConnection(r)
	if err != nil {
		return err
	}
	if s.gateway == nil {
		return errs.E(errs.Unavailable, "httpapi.connectionUsage", "this server forwards no calls, so it meters none", nil)
	}
	u := s.gateway.Usage(ConnectionMeterName(c.Scope))
	out := client.ConnectionUsage{Connection: c.Scope, Requests: u.Requests, PromptTokens: u.PromptTokens,
		CompletionTokens: u.CompletionTokens, Callers: u.Callers}
	if out.Callers == nil {
		out.Callers = []client.CallerUsage{}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) putConnection(w http.ResponseWriter, r *http.Request) error {
	if s.connections == nil {
		return errNoConnections
	}
	var req client.PutConnectionRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	p := req.Properties
	def := connection.Definition{
		Category: connection.Category(p.Category), AuthType: connection.AuthType(p.AuthType), Target: p.Target, Description: p.Description,
		Metadata: p.Metadata, Tags: p.Tags, Credentials: credentialsFrom(p.Credentials), Proxy: proxyFrom(p.Proxy),
		Account: p.Account, Vault: p.Vault, Identity: p.Identity, ReadersReadDatastoreCredentials: p.ReadersReadDatastoreCredentials,
	}
	c, created, err := s.connections.Put(r.Context(), caller(r.Context()).ObjectID, connRef(r), def)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", r.URL.EscapedPath())
	}
	return writeJSON(w, status, connectionOf(c, nil))
}

func (s *Server) patchConnection(w http.ResponseWriter, r *http.Request) error {
	if s.connections == nil {
		return errNoConnections
	}
	var req client.ConnectionUpdate
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	p := req.Properties
	patch := connection.Patch{
		Target: p.Target, Description: p.Description, Metadata: p.Metadata, Tags: p.Tags,
		Credentials: credentialsFrom(p.Credentials), Proxy: proxyFrom(p.Proxy), Account: p.Account, Identity: p.Identity,
		ReadersReadDatastoreCredentials: p.ReadersReadDatastoreCredentials,
	}
	if p.AuthType != nil {
		a := connection.AuthType(*p.AuthType)
		patch.AuthType = &a
	}
	c, err := s.connections.Update(r.Context(), caller(r.Context()).ObjectID, connRef(r), patch)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, connectionOf(c, nil))
}

func (s *Server) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	if s.connections == nil {
		return errNoConnections
	}
	if err := s.connections.Delete(r.Context(), caller(r.Context()).ObjectID, connRef(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listConnectionSecrets answers POST .../listsecrets: the connection with
// its credentials. The request's audit event names the connection; the
// service records one more event for each vault secret it read.
func (s *Server) listConnectionSecrets(w http.ResponseWriter, r *http.Request) error {
	if s.connections == nil {
		return errNoConnections
	}
	ref := connRef(r)
	noteAudit(r.Context()).scope = ref.Scope()
	// Azure's SDKs send {} or {"ignored":""}; the body says nothing.
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxJSONBody))
	c, creds, err := s.connections.ListSecrets(r.Context(), s.connectionCaller(r), ref)
	if err != nil {
		return err
	}
	noteAudit(r.Context()).scope = c.Scope
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, connectionOf(c, creds))
}

// proxyConnection forwards a call through a connection: the caller's own
// token authenticates it, the connection's credential goes upstream, and the
// gateway streams, meters and limits it as it does an account's calls (its
// OpenAI surface: path, query and body pass unchanged).
func (s *Server) proxyConnection(w http.ResponseWriter, r *http.Request) error {
	const o = "httpapi.proxyConnection"
	if s.connections == nil {
		return errNoConnections
	}
	if s.gateway == nil {
		return errs.E(errs.Unavailable, o, "this server forwards no calls through connections", nil)
	}
	ref := connRef(r)
	if ref.Project == "_" {
		ref.Project = ""
	}
	noteAudit(r.Context()).scope = ref.Scope()
	up, err := s.connections.Proxy(r.Context(), s.connectionCaller(r), ref)
	if err != nil {
		return err
	}
	noteAudit(r.Context()).scope = up.Connection.Scope
	base, err := url.Parse(up.BaseURL)
	if err != nil {
		return errs.E(errs.Internal, o, "", err)
	}
	header, value := up.Header, string(up.Value.Reveal())
	oid := caller(r.Context()).ObjectID
	return s.gateway.Forward(w, r, GatewayCall{
		BaseURL: base,
		Inject:  func(h http.Header) { h.Set(header, value) },
		// Metering and limits count per connection, as they do per account.
		Account:           ConnectionMeterName(up.Connection.Scope),
		CallerKey:         "principal:" + oid,
		Principal:         oid,
		RequestsPerMinute: up.RequestsPerMinute,
		TokensPerMinute:   up.TokensPerMinute,
		Rest:              "/" + r.PathValue("rest"),
	})
}

// ConnectionMeterName is the name under which the gateway meters the calls
// through a connection: "connection:" and its scope.
func ConnectionMeterName(scope string) string { return "connection:" + scope }
