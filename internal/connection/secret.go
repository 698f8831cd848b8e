package connection

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file is where credentials live: secrets in the vault of the hub's Key
// Vault connection, written, read and deleted as its identity, and every read
// recorded in the audit trail.

// Caller is who asks for a connection's credentials: ID is the principal's
// object id, and Audit the facts its audit records carry (principal, address,
// request id); each record sets its own Operation, Scope, Result and Reason.
type Caller struct {
	ID    string
	Audit audit.Event
}

// newUID returns 8 random hex characters.
func newUID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// secretName derives the vault secret that holds field of the connection at
// ref: conn-{hub or project}-{name}-{field}-{uid}, cut to Key Vault's limit,
// in Key Vault's alphabet (letters, digits and '-'). uid tells apart
// connections of the same name created at different times.
func secretName(ref Ref, field, uid string) string {
	owner := ref.Hub
	if ref.Project != "" {
		owner = ref.Project
	}
	f := strings.ToLower(field)
	if name, ok := strings.CutPrefix(field, CustomKeyPrefix); ok {
		f = "key-" + strings.ToLower(name)
	}
	b := []byte("conn-" + owner + "-" + ref.Name + "-" + f)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	if limit := vault.MaxNameLength - 1 - len(uid); len(b) > limit {
		b = b[:limit]
	}
	return string(b) + "-" + uid
}

// checkKeyVault checks a Key Vault connection: its vault belongs to the hub
// and the caller may read it; its identity is a user-assigned managed
// identity the caller may act as (assign), which may set, get and delete
// secrets in the vault; the hub has no other Key Vault connection; and the
// vault does not change while connections keep secrets in it.
func (s *Service) checkKeyVault(ctx context.Context, op, callerID string, c, old *Connection) error {
	v, err := s.store.ResourceByName(ctx, store.Vault, c.Vault)
	if err != nil || v.Parent != access.HubScope(c.Hub) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return errs.E(errs.Unavailable, op, "", err)
		}
		return errs.E(errs.NotFound, op, fmt.Sprintf("hub %s has no vault %s: a Key Vault connection names a vault of its hub (latchkey keyvault create --hub %s --name %s)", c.Hub, c.Vault, c.Hub, c.Vault), err)
	}
	if err := s.access.Authorize(ctx, callerID, access.VaultsRead, v.Scope); err != nil {
		return err
	}
	idScope := "/identities/" + c.Identity
	if err := s.access.Authorize(ctx, callerID, access.IdentitiesAssign, idScope); err != nil {
		return err
	}
	p, err := s.dir.PrincipalByName(ctx, store.ManagedIdentity, c.Identity)
	if err != nil || p.Scope != idScope {
		if err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		return errs.E(errs.NotFound, op, fmt.Sprintf("managed identity %s does not exist: create it (latchkey identity create %s) and give it Key Vault Secrets Officer on vault %s", c.Identity, c.Identity, c.Vault), err)
	}
	for _, a := range []string{access.SecretsSet, access.SecretsGet, access.SecretsDelete} {
		if !s.access.Decide(p.ID, a, v.Scope).Allowed {
			return errs.Invalidf(op, "identity", "managed identity %s may not perform %s in vault %s: assign it Key Vault Secrets Officer there (latchkey role assignment create --assignee %s --role \"Key Vault Secrets Officer\" --scope %s)",
				c.Identity, a, c.Vault, c.Identity, v.Scope)
		}
	}
	c.identityID = p.ID
	kv, err := s.keyVaultStored(ctx, c.Hub)
	if err != nil {
		return err
	}
	if kv != nil && kv.Name != c.Name {
		return errs.E(errs.Conflict, op, fmt.Sprintf("hub %s has a Key Vault connection already, %s (vault %s): a hub has exactly one; change it with latchkey connection update --hub %s --name %s, or delete it first",
			c.Hub, kv.Name, kv.Vault, c.Hub, kv.Name), nil)
	}
	if old != nil && old.Vault != c.Vault {
		holders, err := s.secretHolders(ctx, c.Hub)
		if err != nil {
			return err
		}
		if len(holders) > 0 {
			return errs.E(errs.Conflict, op, fmt.Sprintf("connections of hub %s keep their credentials in vault %s: the Key Vault connection's vault cannot change until they are deleted (%s)",
				c.Hub, old.Vault, strings.Join(holders, ", ")), nil)
		}
	}
	return nil
}

// keyVaultStored reads the hub's Key Vault connection from the store, for
// writes, which must not act on a cached view.
func (s *Service) keyVaultStored(ctx context.Context, hub string) (*Connection, error) {
	rs, _, err := s.store.Resources(ctx, store.KeyVaultConnection, access.HubScope(hub), store.Page{Limit: 2})
	if err != nil {
		return nil, errs.E(errs.Unavailable, "connection.keyVault", "", err)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return decode(Ref{Hub: hub, Name: rs[0].Name}, rs[0])
}

// writeSecrets writes each credential of c as a secret in the vault of the
// hub's Key Vault connection, as its identity, and returns where they are.
func (s *Service) writeSecrets(ctx context.Context, op string, c *Connection, creds Credentials) ([]SecretRef, error) {
	if len(creds) == 0 {
		return nil, nil
	}
	kv, err := s.keyVaultStored(ctx, c.Hub)
	if err != nil {
		return nil, err
	}
	if kv == nil {
		return nil, errs.E(errs.Conflict, op, fmt.Sprintf("hub %s has no Key Vault connection to keep this connection's credentials in: create one first (type: key_vault, with vault and identity; see docs/connections.md)", c.Hub), nil)
	}
	var out []SecretRef
	for _, f := range creds.Fields() {
		r := SecretRef{Field: f, Vault: kv.Vault, Name: secretName(c.Ref, f, c.uid)}
		_, err := s.vault.Set(ctx, kv.identityID, r.Vault, r.Name, vault.SetParams{
			Value: creds[f], ContentType: "text/plain",
			Tags: map[string]string{"latchkey-connection": c.Scope, "latchkey-field": f},
		})
		if err != nil {
			s.deleteSecrets(ctx, c, out)
			return nil, vaultError(op, kv, r, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// vaultError explains a vault refusal of the hub's Key Vault connection's
// identity to the caller, who is not the one refused.
func vaultError(op string, kv *Connection, r SecretRef, err error) error {
	switch errs.KindOf(err) {
	case errs.Forbidden:
		return errs.E(errs.Forbidden, op, fmt.Sprintf("hub %s's Key Vault connection %s acts as managed identity %s, which vault %s refuses (%s): give the identity Key Vault Secrets Officer on the vault",
			kv.Hub, kv.Name, kv.Identity, r.Vault, errs.Message(err)), err)
	case errs.NotFound:
		return errs.E(errs.NotFound, op, fmt.Sprintf("secret %s of vault %s: %s", r.Name, r.Vault, errs.Message(err)), err)
	case errs.Conflict:
		return errs.E(errs.Conflict, op, fmt.Sprintf("secret %s of vault %s: %s", r.Name, r.Vault, errs.Message(err)), err)
	}
	return err
}

// deleteSecrets soft-deletes secrets of c, as the hub's Key Vault
// connection's identity; what fails is logged (by name, never value) and
// stays in the vault.
func (s *Service) deleteSecrets(ctx context.Context, c *Connection, refs []SecretRef) {
	if len(refs) == 0 {
		return
	}
	kv, err := s.keyVaultStored(ctx, c.Hub)
	if err != nil || kv == nil {
		s.log.WarnContext(ctx, "the secrets of a connection could not be deleted: its hub has no Key Vault connection", "scope", c.Scope, "err", err)
		return
	}
	for _, r := range refs {
		if _, err := s.vault.Delete(ctx, kv.identityID, r.Vault, r.Name); err != nil && !errs.Is(err, errs.NotFound) {
			s.log.WarnContext(ctx, "a connection's secret could not be deleted; delete it in the vault", "scope", c.Scope, "vault", r.Vault, "secret", r.Name, "err", err)
		}
	}
}

// readSecrets reads c's credentials as the hub's Key Vault connection's
// identity. Each read leaves one audit record naming the vault secret (its
// scope) and the connection (in its reason): stored before any value is
// returned when durable, enqueued otherwise (the proxy's path).
func (s *Service) readSecrets(ctx context.Context, op string, caller Caller, c *Connection, refs []SecretRef, why string, durable bool) (Credentials, error) {
	kv, err := s.keyVault(ctx, c.Hub)
	if err != nil {
		return nil, err
	}
	if kv == nil {
		return nil, errs.E(errs.Conflict, op, fmt.Sprintf("hub %s has no Key Vault connection: the credentials of connection %s cannot be read", c.Hub, c.Name), nil)
	}
	creds := Credentials{}
	var failed error
	events := make([]audit.Event, 0, len(refs))
	for _, r := range refs {
		b, err := s.vault.Get(ctx, kv.identityID, r.Vault, r.Name, "")
		e := readEvent(caller, access.SecretsGet, access.VaultScope(c.Hub, r.Vault)+"/secrets/"+r.Name, why+" of connection "+c.Scope)
		if err != nil {
			failed = vaultError(op, kv, r, err)
			e.Result, e.Reason = audit.Failed, e.Reason+": "+errs.Message(failed)
		} else {
			creds[r.Field] = *b.Value
		}
		events = append(events, e)
		if err != nil {
			break
		}
	}
	for _, e := range events {
		if !durable {
			s.audit.Enqueue(e)
			continue
		}
		if err := s.recordRead(ctx, op, e); err != nil {
			return nil, err
		}
	}
	if failed != nil {
		return nil, failed
	}
	return creds, nil
}

// ListSecrets returns the connection ref names with its credentials, as
// Azure's listsecrets does. The caller needs the listsecrets data action;
// or, for a credential-based datastore connection, only the read action
// (Reader), unless the hub's Key Vault connection turns that off. Every
// secret read is recorded before the values are returned. Kinds: Invalid,
// Forbidden, NotFound, Unavailable.
func (s *Service) ListSecrets(ctx context.Context, caller Caller, ref Ref) (*Connection, Credentials, error) {
	const o = "connection.ListSecrets"
	c, granted, err := s.reach(ctx, o, caller.ID, ref, access.ConnectionsListSecrets, access.ConnectionsRead)
	if err != nil {
		return nil, nil, err
	}
	if !granted[0] {
		more := "listing a connection's credentials is a data action of its own"
		if c.IsDatastoreCredential() {
			kv, err := s.keyVault(ctx, c.Hub)
			if err != nil {
				return nil, nil, err
			}
			if kv == nil || kv.readersReadDatastore() {
				granted[0] = granted[1]
			} else {
				more = "hub " + c.Hub + " does not let readers read datastore credentials (readersReadDatastoreCredentials is off on its Key Vault connection)"
			}
		}
		if !granted[0] {
			return nil, nil, s.forbidden(o, caller.ID, access.ConnectionsListSecrets, c.Scope, more)
		}
	}
	if c.usesAccountKey() && s.accts != nil {
		creds, err := s.accountKey(ctx, o, caller, c)
		if err != nil {
			return nil, nil, err
		}
		return c, creds, nil
	}
	creds, err := s.readSecrets(ctx, o, caller, c, c.Secrets, "listsecrets", true)
	if err != nil {
		return nil, nil, err
	}
	return c, creds, nil
}

// usesAccountKey reports whether c hands out its account's key: an
// AIServices connection with ApiKey authentication and no key of its own.
func (c *Connection) usesAccountKey() bool {
	return c.Category == CategoryAIServices && c.AuthType == AuthAPIKey && len(c.Secrets) == 0 && c.Account != ""
}

// accountKey reads the key that c's account wants its consumers to use now,
// recording the read (durably, before it is returned) as a listKeys of the
// account on behalf of the connection. Since it is read at each listsecrets,
// a key rotation moves the connection's consumers with it.
func (s *Service) accountKey(ctx context.Context, op string, caller Caller, c *Connection) (Credentials, error) {
	name, key, err := s.accts.ActiveKeyOf(ctx, c.Account)
	e := readEvent(caller, access.AccountsListKeys, c.Scope, "listsecrets of connection "+c.Scope+": the account's "+name)
	if err != nil {
		e.Result, e.Reason = audit.Failed, "listsecrets of connection "+c.Scope+": "+errs.Message(err)
	}
	if rerr := s.recordRead(ctx, op, e); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, err
	}
	return Credentials{"key": vault.NewValue([]byte(key.Reveal()))}, nil
}

// Upstream is where the connection proxy sends a call, the header that
// carries the connection's credential there, and the gateway's limits per
// caller (0: unlimited).
type Upstream struct {
	Connection *Connection
	BaseURL    string      // the connection's target
	Header     string      // the header to set, such as Authorization
	Value      vault.Value // its value: the prefix and the credential

	RequestsPerMinute, TokensPerMinute int
}

// Proxy returns where a call through the connection proxy goes, with the
// credential to inject: for an ApiKey or CustomKeys connection with a target
// URL, to a caller granted the proxy data action. The credential's read is
// recorded (enqueued) in the audit trail. Kinds: Invalid, Forbidden,
// NotFound, Unavailable.
func (s *Service) Proxy(ctx context.Context, caller Caller, ref Ref) (Upstream, error) {
	const o = "connection.Proxy"
	c, _, err := s.reach(ctx, o, caller.ID, ref, access.ConnectionsProxy)
	if err != nil {
		return Upstream{}, err
	}
	if !c.proxiable() {
		return Upstream{}, errs.Invalidf(o, "", "connection %s is a %s connection: only ApiKey and CustomKeys connections with a target URL are called through the connection proxy", c.Name, c.Category)
	}
	p := ProxyHeader{Header: "Authorization", Key: ""}
	prefix := "Bearer "
	if c.Proxy != nil {
		p, prefix = *c.Proxy, *c.Proxy.Prefix
	}
	field := "key"
	if c.Category == CategoryCustomKeys {
		field = CustomKeyPrefix + p.Key
		if p.Key == "" {
			if len(c.Secrets) != 1 {
				return Upstream{}, errs.Invalidf(o, "proxy.key", "connection %s holds %d secrets: set proxy.key to the one the proxy sends", c.Name, len(c.Secrets))
			}
			field = c.Secrets[0].Field
		}
	}
	var refs []SecretRef
	for _, r := range c.Secrets {
		if r.Field == field {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		return Upstream{}, errs.Invalidf(o, "proxy.key", "connection %s has no credential %s to send", c.Name, field)
	}
	creds, err := s.readSecrets(ctx, o, caller, c, refs, "proxy call", false)
	if err != nil {
		return Upstream{}, err
	}
	value := prefix + string(creds[field].Reveal())
	if !validHeaderValue(value) {
		return Upstream{}, errs.Invalidf(o, "credentials."+field, "the credential %s of connection %s cannot be sent in a header: it holds a line break or another control character", field, c.Name)
	}
	up := Upstream{Connection: c, BaseURL: c.Target, Header: p.Header, Value: vault.NewValue([]byte(value))}
	if p.RequestsPerMinute != nil {
		up.RequestsPerMinute = *p.RequestsPerMinute
	}
	if p.TokensPerMinute != nil {
		up.TokensPerMinute = *p.TokensPerMinute
	}
	return up, nil
}

// readEvent is the audit event of a credential read for caller: operation
// on scope, allowed, with the reason that names the connection.
func readEvent(caller Caller, operation, scope, reason string) audit.Event {
	e := caller.Audit
	if e.PrincipalID == "" {
		e.PrincipalID = caller.ID
	}
	e.Operation, e.Scope, e.Status = operation, scope, 0
	e.Result, e.Reason = audit.Allowed, reason
	return e
}

// recordRead stores the event of a credential read before its values leave.
func (s *Service) recordRead(ctx context.Context, op string, e audit.Event) error {
	if err := s.audit.Record(ctx, e); err != nil {
		return errs.E(errs.Unavailable, op, "the credentials were not returned: their read could not be recorded in the audit trail", err)
	}
	return nil
}
