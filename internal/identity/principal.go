package identity

import (
	"context"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// namePattern is what user and managed identity names may look like: letters,
// digits and . _ - @, starting with a letter or digit, at most 128 characters.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)

// minPasswordLength is the shortest password a user may have.
const minPasswordLength = 12

// CreatedServicePrincipal is a new service principal with its first secret,
// which is shown once and never again.
type CreatedServicePrincipal struct {
	Principal store.Principal
	Secret    Secret
	SecretID  string
	Expires   time.Time
}

// CreateServicePrincipal creates a service principal named displayName with a
// new client secret valid for secretLifetime (DefaultSecretLifetime when 0).
func (s *Service) CreateServicePrincipal(ctx context.Context, displayName string, secretLifetime time.Duration) (CreatedServicePrincipal, error) {
	o := op("CreateServicePrincipal")
	if displayName == "" || len(displayName) > 256 {
		return CreatedServicePrincipal{}, errs.Invalidf(o, "displayName", "a service principal needs a display name of 1 to 256 characters")
	}
	now := s.now()
	p := store.Principal{
		ID: uuid.NewString(), Kind: store.ServicePrincipal, Name: displayName, AppID: uuid.NewString(),
		Enabled: true, Created: store.Time(now), Updated: store.Time(now),
	}
	secret, cred, err := newSecret(p.ID, "", now, secretLifetime)
	if err != nil {
		return CreatedServicePrincipal{}, err
	}
	if err := s.store.CreatePrincipal(ctx, p); err != nil {
		return CreatedServicePrincipal{}, store.Error(o, "service principal "+displayName, err)
	}
	if err := s.store.CreateCredential(ctx, cred); err != nil {
		return CreatedServicePrincipal{}, store.Error(o, "service principal "+displayName, err)
	}
	return CreatedServicePrincipal{Principal: p, Secret: secret, SecretID: cred.ID, Expires: cred.Expires}, s.applied(ctx)
}

// ResetSecret replaces every client secret of the service principal or managed
// identity with appID by a new one. Tokens issued with an old secret stay valid
// until they expire; the old secret gets no new ones.
func (s *Service) ResetSecret(ctx context.Context, appID string, lifetime time.Duration) (CreatedServicePrincipal, error) {
	o := op("ResetSecret")
	p, err := s.servicePrincipal(ctx, appID)
	if err != nil {
		return CreatedServicePrincipal{}, err
	}
	now := s.now()
	secret, cred, err := newSecret(p.ID, "", now, lifetime)
	if err != nil {
		return CreatedServicePrincipal{}, err
	}
	if err := s.store.ReplaceCredentials(ctx, p.ID, store.SecretCredential, cred); err != nil {
		return CreatedServicePrincipal{}, store.Error(o, "service principal "+appID, err)
	}
	return CreatedServicePrincipal{Principal: p, Secret: secret, SecretID: cred.ID, Expires: cred.Expires}, s.applied(ctx)
}

// CreateUser creates a local user who signs in with a password.
func (s *Service) CreateUser(ctx context.Context, name string, password Secret) (store.Principal, error) {
	o := op("CreateUser")
	if !namePattern.MatchString(name) {
		return store.Principal{}, errs.Invalidf(o, "name", "user name %s: use 1 to 128 letters, digits, '.', '_', '-' or '@', starting with a letter or digit", quote(name))
	}
	if len(password.s) < minPasswordLength {
		return store.Principal{}, errs.Invalidf(o, "password", "the password is shorter than %d characters", minPasswordLength)
	}
	hash, err := hashPassword(password.s)
	if err != nil {
		return store.Principal{}, errs.E(errs.Internal, o, "", err)
	}
	now := s.now()
	p := store.Principal{
		ID: uuid.NewString(), Kind: store.User, Name: name, Enabled: true, PasswordHash: hash,
		Created: store.Time(now), Updated: store.Time(now),
	}
	if err := s.store.CreatePrincipal(ctx, p); err != nil {
		return store.Principal{}, store.Error(o, "user "+name, err)
	}
	return p, s.applied(ctx)
}

// CreateManagedIdentity creates a user-assigned managed identity at
// /identities/{name}.
func (s *Service) CreateManagedIdentity(ctx context.Context, name string) (store.Principal, error) {
	if !namePattern.MatchString(name) {
		return store.Principal{}, errs.Invalidf(op("CreateManagedIdentity"), "name", "identity name %s: use 1 to 128 letters, digits, '.', '_', '-' or '@', starting with a letter or digit", quote(name))
	}
	return s.createManagedIdentity(ctx, name, "/identities/"+name)
}

// CreateSystemIdentity creates the system-assigned managed identity of the
// resource at scope (a hub, project or account), named after the scope. It is
// deleted with its resource.
func (s *Service) CreateSystemIdentity(ctx context.Context, scope string) (store.Principal, error) {
	return s.createManagedIdentity(ctx, scope, scope)
}

func (s *Service) createManagedIdentity(ctx context.Context, name, scope string) (store.Principal, error) {
	now := s.now()
	p := store.Principal{
		ID: uuid.NewString(), Kind: store.ManagedIdentity, Name: name, AppID: uuid.NewString(), Scope: scope,
		Enabled: true, Created: store.Time(now), Updated: store.Time(now),
	}
	if err := s.store.CreatePrincipal(ctx, p); err != nil {
		return store.Principal{}, store.Error(op("CreateManagedIdentity"), "managed identity "+name, err)
	}
	return p, s.applied(ctx)
}

// Principal returns the principal with object id id (Kind NotFound if none).
func (s *Service) Principal(ctx context.Context, id string) (store.Principal, error) {
	p, err := s.store.Principal(ctx, id)
	return p, store.Error(op("Principal"), "principal "+id, err)
}

// PrincipalByAppID returns the service principal or managed identity with client id appID.
func (s *Service) PrincipalByAppID(ctx context.Context, appID string) (store.Principal, error) {
	p, err := s.store.PrincipalByAppID(ctx, appID)
	return p, store.Error(op("PrincipalByAppID"), "service principal or managed identity with appId "+appID, err)
}

// PrincipalByName returns the user or managed identity of kind k named name.
func (s *Service) PrincipalByName(ctx context.Context, k store.PrincipalKind, name string) (store.Principal, error) {
	p, err := s.store.PrincipalByName(ctx, k, name)
	return p, store.Error(op("PrincipalByName"), kindNoun(k)+" "+name, err)
}

// Principals lists principals of kind k ("" for all), a page at a time.
func (s *Service) Principals(ctx context.Context, k store.PrincipalKind, p store.Page) ([]store.Principal, string, error) {
	ps, next, err := s.store.Principals(ctx, k, p)
	return ps, next, store.Error(op("Principals"), "principals", err)
}

// DeletePrincipal deletes a principal and its credentials. Its tokens are
// refused from the next request on.
func (s *Service) DeletePrincipal(ctx context.Context, id string) error {
	if admin, err := s.BootstrapAdminID(ctx, s.store); err != nil {
		return err
	} else if admin == id {
		return errs.E(errs.Conflict, op("DeletePrincipal"), "the bootstrap administrator cannot be deleted: reset its secret instead if it leaked", nil)
	}
	if err := s.store.DeletePrincipal(ctx, id); err != nil {
		return store.Error(op("DeletePrincipal"), "principal "+id, err)
	}
	return s.applied(ctx)
}

// SetEnabled enables or disables a principal. A disabled principal gets no
// tokens and its issued tokens are refused.
func (s *Service) SetEnabled(ctx context.Context, id string, enabled bool) (store.Principal, error) {
	o := op("SetEnabled")
	p, err := s.Principal(ctx, id)
	if err != nil {
		return p, err
	}
	p.Enabled, p.Updated = enabled, store.Time(s.now())
	if err := s.store.UpdatePrincipal(ctx, p); err != nil {
		return p, store.Error(o, "principal "+id, err)
	}
	return p, s.applied(ctx)
}

// AddCertificate registers a certificate (PEM or DER, public part only) for
// client assertions of the principal with appID.
func (s *Service) AddCertificate(ctx context.Context, appID, name string, cert []byte) (store.Credential, error) {
	p, err := s.servicePrincipal(ctx, appID)
	if err != nil {
		return store.Credential{}, err
	}
	c, err := newCertificateCredential(p.ID, name, cert, s.now())
	if err != nil {
		return c, err
	}
	if err := s.store.CreateCredential(ctx, c); err != nil {
		return c, store.Error(op("AddCertificate"), "certificate "+c.Name, err)
	}
	return c, s.applied(ctx)
}

// AddFederatedCredential lets tokens from an external issuer act as the
// principal with appID. There is no fixed cap on their number.
func (s *Service) AddFederatedCredential(ctx context.Context, appID string, f FederatedCredential) (store.Credential, error) {
	p, err := s.PrincipalByAppID(ctx, appID)
	if err != nil {
		return store.Credential{}, err
	}
	c, err := newFederatedCredential(p.ID, f, s.now())
	if err != nil {
		return c, err
	}
	if err := s.store.CreateCredential(ctx, c); err != nil {
		return c, store.Error(op("AddFederatedCredential"), "federated credential "+f.Name, err)
	}
	return c, s.applied(ctx)
}

// Credentials lists a principal's credentials; secrets appear as hints only.
func (s *Service) Credentials(ctx context.Context, principalID string) ([]store.Credential, error) {
	cs, err := s.store.Credentials(ctx, principalID)
	return cs, store.Error(op("Credentials"), "credentials of "+principalID, err)
}

// DeleteCredential removes one credential of a principal.
func (s *Service) DeleteCredential(ctx context.Context, principalID, id string) error {
	if err := s.store.DeleteCredential(ctx, principalID, id); err != nil {
		return store.Error(op("DeleteCredential"), "credential "+id, err)
	}
	return s.applied(ctx)
}

// IssueFor issues an access token for principal p with audience resource,
// without any credential of p's own: the caller (the management API, on behalf
// of an authorized operator such as `latchkey run`) has decided that it may act
// as p. host names the issuer.
func (s *Service) IssueFor(ctx context.Context, p store.Principal, resource, host string) (TokenResponse, error) {
	resp, err := s.issueFor(ctx, p, resource, host)
	s.tokens.count(methodManagedIdentity, err)
	return resp, err
}

func (s *Service) issueFor(ctx context.Context, p store.Principal, resource, host string) (TokenResponse, error) {
	aud, err := audienceOf(resource + "/.default")
	if err != nil {
		return TokenResponse{}, err
	}
	if p.Kind != store.ManagedIdentity {
		return TokenResponse{}, errs.E(errs.Invalid, op("IssueFor"), "only managed identities get tokens on another's behalf", nil)
	}
	if d, ok := s.dir.Load().byID[p.ID]; !ok || !d.Enabled {
		return TokenResponse{}, errs.E(errs.Forbidden, op("IssueFor"), "the identity is deleted or disabled", nil)
	}
	tok, c, err := s.issue(ctx, p, p.AppID, authCertificate, aud, s.IssuerFor(host))
	return TokenResponse{AccessToken: tok, Claims: c}, err
}

// servicePrincipal returns the service principal with appID: managed
// identities never hold secrets or certificates (NotFound for them).
func (s *Service) servicePrincipal(ctx context.Context, appID string) (store.Principal, error) {
	p, err := s.PrincipalByAppID(ctx, appID)
	if err == nil && p.Kind != store.ServicePrincipal {
		return p, errs.E(errs.NotFound, op("servicePrincipal"), "no service principal has appId "+appID+" (managed identities hold no secrets or certificates)", nil)
	}
	return p, err
}

func kindNoun(k store.PrincipalKind) string {
	switch k {
	case store.User:
		return "user"
	case store.ManagedIdentity:
		return "managed identity"
	}
	return "service principal"
}
