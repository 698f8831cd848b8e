package connection

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// reach finds the connection ref names for a caller who asks for actions on
// it, and tells which of them the caller holds there.
//
// A project's members reach their hub's shared connections through the
// project: a project ref names the project's own connection or, when it has
// none of that name, the hub's shared one, on which an action is granted to
// whoever holds it at the project or at the connection itself. A project
// never reaches a sibling project's connections.
//
// The decision comes before anything is told: a caller who holds none of the
// actions is refused (Kind Forbidden, naming ref's scope) whether or not the
// connection exists. Kinds: Invalid, Forbidden, NotFound.
func (s *Service) reach(ctx context.Context, op, callerID string, ref Ref, actions ...string) (*Connection, []bool, error) {
	ref, err := ref.check(op)
	if err != nil {
		return nil, nil, err
	}
	s.fresh(ctx)
	// Where the caller stands: the project, or the hub's connection itself.
	entry := ref.Scope()
	if ref.Project != "" {
		entry = ref.parent()
	}
	c, err := s.find(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	granted := make([]bool, len(actions))
	anyGranted := false
	if c != nil {
		for i, a := range actions {
			granted[i] = s.access.Decide(callerID, a, c.Scope).Allowed ||
				(ref.Project != "" && c.Shared() && s.access.Decide(callerID, a, entry).Allowed)
			anyGranted = anyGranted || granted[i]
		}
	}
	if anyGranted {
		return c, granted, nil
	}
	for _, a := range actions {
		if s.access.Decide(callerID, a, entry).Allowed || s.access.Decide(callerID, a, ref.Scope()).Allowed {
			return nil, nil, errs.E(errs.NotFound, op, notFoundMessage(ref), nil)
		}
	}
	return nil, nil, s.forbidden(op, callerID, actions[0], ref.Scope(), "")
}

// find returns the connection ref names: the project's own, or else the
// hub's shared connection of that name; nil when there is none, or when the
// project does not exist.
func (s *Service) find(ctx context.Context, ref Ref) (*Connection, error) {
	c, err := s.connection(ctx, ref)
	if err != nil || c != nil || ref.Project == "" {
		return c, err
	}
	p, err := s.resource(ctx, ref.parent())
	if err != nil || p == nil || p.Kind != store.Project {
		return nil, err
	}
	return s.connection(ctx, Ref{Hub: ref.Hub, Name: ref.Name})
}

func notFoundMessage(ref Ref) string {
	if ref.Project == "" {
		return fmt.Sprintf("hub %s has no connection %s", ref.Hub, ref.Name)
	}
	return fmt.Sprintf("neither project %s nor its hub %s has a connection %s (or the project does not exist)", ref.Project, ref.Hub, ref.Name)
}

// forbidden is the refusal of action on scope, with the decision's reason
// and what more to say.
func (s *Service) forbidden(op, callerID, action, scope, more string) error {
	d := s.access.Decide(callerID, action, scope)
	msg := fmt.Sprintf("the caller %s is not allowed to perform %s on %s: %s", callerID, action, scope, d.Reason)
	if more != "" {
		msg += ". " + more
	}
	return errs.E(errs.Forbidden, op, msg+". Ask an administrator for a role assignment (latchkey role assignment create)", nil)
}

// Get returns the connection ref names, without credentials. Kinds: Invalid,
// Forbidden, NotFound.
func (s *Service) Get(ctx context.Context, callerID string, ref Ref) (*Connection, error) {
	c, _, err := s.reach(ctx, "connection.Get", callerID, ref, access.ConnectionsRead)
	return c, err
}

// List returns the connections a caller may read: a hub's shared
// connections (project ""), or a project's own and its hub's shared ones,
// ordered by scope, without credentials. Kinds: Invalid, Forbidden,
// NotFound (the hub or project).
func (s *Service) List(ctx context.Context, callerID, hub, project string) ([]*Connection, error) {
	const o = "connection.List"
	// The name is a placeholder: only the hub and project are checked.
	ref, err := Ref{Hub: hub, Project: project, Name: "x"}.check(o)
	if err != nil {
		return nil, err
	}
	s.fresh(ctx)
	parent := ref.parent()
	if r, err := s.resource(ctx, parent); err != nil {
		return nil, err
	} else if r == nil {
		if err := s.access.Authorize(ctx, callerID, access.ConnectionsRead, parent); err != nil {
			return nil, err
		}
		return nil, errs.E(errs.NotFound, o, parent+" does not exist", nil)
	}
	all, err := s.listUnder(ctx, ref.Hub, "", access.HubScope(ref.Hub))
	if err != nil {
		return nil, err
	}
	if ref.Project != "" {
		own, err := s.listUnder(ctx, ref.Hub, ref.Project, parent)
		if err != nil {
			return nil, err
		}
		all = append(own, all...)
	}
	visible := all[:0]
	for _, c := range all {
		if s.access.Decide(callerID, access.ConnectionsRead, c.Scope).Allowed ||
			(ref.Project != "" && c.Shared() && s.access.Decide(callerID, access.ConnectionsRead, parent).Allowed) {
			visible = append(visible, c)
		}
	}
	sortByScope(visible)
	return visible, nil
}

// Put creates the connection ref names, or replaces its definition (PUT),
// and reports whether it created it. Credentials given are written to the
// vault of the hub's Key Vault connection; on a replace that gives none and
// keeps the auth type, the stored ones stay. Kinds: Invalid, Forbidden,
// NotFound (the hub or project, a vault, identity or account named),
// Conflict (a second Key Vault connection, no Key Vault connection to hold
// credentials, a change of a Key Vault connection's kind).
func (s *Service) Put(ctx context.Context, callerID string, ref Ref, def Definition) (*Connection, bool, error) {
	const o = "connection.Put"
	ref, old, err := s.enterWrite(ctx, o, callerID, ref, access.ConnectionsWrite)
	if err != nil {
		return nil, false, err
	}
	var kept []SecretRef
	if old != nil && len(def.Credentials) == 0 && (def.AuthType == "" || strings.EqualFold(string(def.AuthType), string(old.AuthType))) &&
		strings.EqualFold(string(def.Category), string(old.Category)) {
		kept, def.AuthType = old.Secrets, old.AuthType
	}
	c, err := s.save(ctx, o, callerID, ref, old, def, kept)
	return c, old == nil && err == nil, err
}

// Patch changes some of a connection's definition (PATCH); nil and empty
// fields stay as they are.
type Patch struct {
	AuthType    *AuthType
	Target      *string
	Description *string
	// Metadata and Tags are merged: a key with an empty value is removed.
	Metadata map[string]string
	Tags     map[string]string
	// Credentials are merged field by field; with another AuthType they
	// replace the stored ones.
	Credentials Credentials
	// Proxy's fields that are set replace the stored ones.
	Proxy                           *ProxyHeader
	Account                         *string
	Identity                        *string
	ReadersReadDatastoreCredentials *bool
}

// Update applies p to the connection ref names. Kinds: those of Put.
func (s *Service) Update(ctx context.Context, callerID string, ref Ref, p Patch) (*Connection, error) {
	const o = "connection.Update"
	ref, old, err := s.enterWrite(ctx, o, callerID, ref, access.ConnectionsWrite)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, errs.E(errs.NotFound, o, notFoundMessage(ref)+": create it first", nil)
	}
	def := old.Definition
	def.apply(p)
	var kept []SecretRef
	if p.AuthType != nil && !strings.EqualFold(string(*p.AuthType), string(old.AuthType)) {
		def.AuthType = *p.AuthType
	} else {
		for _, r := range old.Secrets {
			if _, given := p.Credentials[r.Field]; !given {
				kept = append(kept, r)
			}
		}
	}
	return s.save(ctx, o, callerID, ref, old, def, kept)
}

// apply changes d as p says.
func (d *Definition) apply(p Patch) {
	if p.AuthType != nil {
		d.AuthType = *p.AuthType
	}
	set(&d.Target, p.Target)
	set(&d.Description, p.Description)
	set(&d.Account, p.Account)
	set(&d.Identity, p.Identity)
	d.Metadata, d.Tags = merge(d.Metadata, p.Metadata), merge(d.Tags, p.Tags)
	if len(p.Credentials) > 0 {
		creds := maps.Clone(d.Credentials)
		if creds == nil {
			creds = Credentials{}
		}
		maps.Copy(creds, p.Credentials)
		d.Credentials = creds
	}
	if p.Proxy != nil {
		px := ProxyHeader{}
		if d.Proxy != nil {
			px = *d.Proxy
		}
		if p.Proxy.Header != "" {
			px.Header = p.Proxy.Header
		}
		if p.Proxy.Prefix != nil {
			px.Prefix = p.Proxy.Prefix
		}
		if p.Proxy.Key != "" {
			px.Key = p.Proxy.Key
		}
		if p.Proxy.RequestsPerMinute != nil {
			px.RequestsPerMinute = p.Proxy.RequestsPerMinute
		}
		if p.Proxy.TokensPerMinute != nil {
			px.TokensPerMinute = p.Proxy.TokensPerMinute
		}
		d.Proxy = &px
	}
	if p.ReadersReadDatastoreCredentials != nil {
		d.ReadersReadDatastoreCredentials = p.ReadersReadDatastoreCredentials
	}
}

func set(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func merge(old, change map[string]string) map[string]string {
	if len(change) == 0 {
		return old
	}
	out := maps.Clone(old)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range change {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// enterWrite begins a write: it checks ref, authorizes action on its scope
// before anything is read, checks that the hub or project exists, and reads
// the connection stored there (nil when none).
func (s *Service) enterWrite(ctx context.Context, op, callerID string, ref Ref, action string) (Ref, *Connection, error) {
	ref, err := ref.check(op)
	if err != nil {
		return ref, nil, err
	}
	if err := s.access.Authorize(ctx, callerID, action, ref.Scope()); err != nil {
		return ref, nil, err
	}
	parent, err := s.store.Resource(ctx, ref.parent())
	if errors.Is(err, store.ErrNotFound) {
		return ref, nil, errs.E(errs.NotFound, op, ref.parent()+" does not exist: create it first", err)
	} else if err != nil {
		return ref, nil, errs.E(errs.Unavailable, op, "", err)
	}
	if ref.Project != "" && parent.Kind != store.Project || ref.Project == "" && parent.Kind != store.Hub {
		return ref, nil, errs.E(errs.NotFound, op, ref.parent()+" is not a hub or project", nil)
	}
	r, err := s.store.Resource(ctx, ref.Scope())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ref, nil, nil
	case err != nil:
		return ref, nil, errs.E(errs.Unavailable, op, "", err)
	}
	old, err := decode(ref, r)
	return ref, old, err
}

// save checks def, writes its credentials, and stores the connection at ref
// (replacing old when not nil); kept are the stored secrets it keeps.
func (s *Service) save(ctx context.Context, op, callerID string, ref Ref, old *Connection, def Definition, kept []SecretRef) (*Connection, error) {
	keptFields := make([]string, len(kept))
	for i, r := range kept {
		keptFields[i] = r.Field
	}
	given := def.Credentials
	if err := def.check(op, keptFields); err != nil {
		return nil, err
	}
	def.Credentials = nil
	now := store.Time(s.now())
	c := &Connection{Ref: ref, Scope: ref.Scope(), Kind: string(store.Connection), Definition: def, Created: now, Updated: now, CreatedBy: callerID}
	if def.Category == CategoryKeyVault {
		if ref.Project != "" {
			return nil, errs.Invalidf(op, "category", "a Key Vault connection belongs to a hub, not a project: create it without a project")
		}
		c.Kind = string(store.KeyVaultConnection)
	}
	if old != nil {
		if old.Kind != c.Kind {
			return nil, errs.E(errs.Conflict, op, fmt.Sprintf("connection %s is a %s connection: a connection cannot become or stop being its hub's Key Vault connection; delete it and create it again", ref.Name, old.Category), nil)
		}
		c.uid, c.Created, c.CreatedBy, c.identityID = old.uid, old.Created, old.CreatedBy, old.identityID
	} else {
		c.uid = newUID()
	}
	if err := s.checkReferences(ctx, op, callerID, c, old); err != nil {
		return nil, err
	}
	written, err := s.writeSecrets(ctx, op, c, given)
	if err != nil {
		return nil, err
	}
	c.Secrets = append(slices.Clone(kept), written...)
	slices.SortFunc(c.Secrets, func(a, b SecretRef) int { return strings.Compare(a.Field, b.Field) })
	if err := s.saveRecord(ctx, op, c, old); err != nil {
		if old == nil {
			s.deleteSecrets(ctx, c, written)
		}
		return nil, err
	}
	if old != nil {
		s.deleteSecrets(ctx, c, stale(old.Secrets, c.Secrets))
	}
	s.written(ctx, c.Scope)
	return c, nil
}

// stale returns the secrets of old that now holds no more.
func stale(old, now []SecretRef) []SecretRef {
	var out []SecretRef
	for _, r := range old {
		if !slices.ContainsFunc(now, func(n SecretRef) bool { return n.Vault == r.Vault && n.Name == r.Name }) {
			out = append(out, r)
		}
	}
	return out
}

// saveRecord writes c's record: a new one, or over old.
func (s *Service) saveRecord(ctx context.Context, op string, c *Connection, old *Connection) error {
	r := store.Resource{Scope: c.Scope, Kind: store.ResourceKind(c.Kind), Name: c.Name, Parent: c.parent(),
		Properties: encode(c), Created: c.Created, Updated: c.Updated}
	if old != nil {
		if err := s.store.UpdateResource(ctx, r); err != nil {
			return store.Error(op, "connection "+c.Scope, err)
		}
		return nil
	}
	err := s.store.CreateResource(ctx, r)
	switch {
	case errors.Is(err, store.ErrConflict) && c.Kind == string(store.KeyVaultConnection):
		return errs.E(errs.Conflict, op, fmt.Sprintf("hub %s has a Key Vault connection already, or a connection named %s: a hub has exactly one Key Vault connection", c.Hub, c.Name), err)
	case errors.Is(err, store.ErrConflict):
		return errs.E(errs.Conflict, op, fmt.Sprintf("connection %s was created at the same time by another request: show it, then update it", c.Name), err)
	case errors.Is(err, store.ErrNotFound):
		return errs.E(errs.NotFound, op, c.parent()+" does not exist (any more)", err)
	case err != nil:
		return errs.E(errs.Unavailable, op, "", err)
	}
	return nil
}

// checkReferences checks what the connection names beyond itself: the
// account of an AIServices connection, the vault and identity of the Key
// Vault connection.
func (s *Service) checkReferences(ctx context.Context, op, callerID string, c, old *Connection) error {
	switch c.Category {
	case CategoryKeyVault:
		return s.checkKeyVault(ctx, op, callerID, c, old)
	case CategoryAIServices:
		a, err := s.store.ResourceByName(ctx, store.Account, strings.ToLower(c.Account))
		if errors.Is(err, store.ErrNotFound) || err == nil && a.Parent != access.HubScope(c.Hub) {
			return errs.E(errs.NotFound, op, fmt.Sprintf("hub %s has no AI services account %s: create it first (PUT /api/v1/hubs/%s/accounts/%s)", c.Hub, c.Account, c.Hub, c.Account), err)
		} else if err != nil {
			return errs.E(errs.Unavailable, op, "", err)
		}
		if err := s.access.Authorize(ctx, callerID, access.AccountsRead, a.Scope); err != nil {
			return err
		}
		c.Account = a.Name
		if c.Metadata["ResourceId"] == "" {
			c.Metadata = merge(c.Metadata, map[string]string{"ResourceId": a.Scope})
		}
	}
	return nil
}

// Delete deletes the connection ref names and moves its secrets to their
// vault's deleted secrets (recoverable for the vault's retention), and drops
// the role assignments at or below it. The hub's Key Vault connection cannot
// be deleted while connections keep credentials in its vault. Kinds:
// Invalid, Forbidden, NotFound, Conflict.
func (s *Service) Delete(ctx context.Context, callerID string, ref Ref) error {
	const o = "connection.Delete"
	ref, old, err := s.enterWrite(ctx, o, callerID, ref, access.ConnectionsDelete)
	if err != nil {
		return err
	}
	if old == nil {
		return errs.E(errs.NotFound, o, notFoundMessage(ref), nil)
	}
	if old.Kind == string(store.KeyVaultConnection) {
		holders, err := s.secretHolders(ctx, ref.Hub)
		if err != nil {
			return err
		}
		if len(holders) > 0 {
			return errs.E(errs.Conflict, o, fmt.Sprintf("connections of hub %s keep their credentials in vault %s through this Key Vault connection: delete them first (%s)",
				ref.Hub, old.Vault, strings.Join(holders, ", ")), nil)
		}
	}
	if err := s.store.DeleteResource(ctx, old.Scope); err != nil {
		return store.Error(o, "connection "+old.Scope, err)
	}
	s.deleteSecrets(ctx, old, old.Secrets)
	if err := s.access.DropAssignmentsUnder(ctx, old.Scope); err != nil {
		s.log.WarnContext(ctx, "the role assignments of a deleted connection could not be dropped", "scope", old.Scope, "err", err)
	}
	s.written(ctx, old.Scope)
	return nil
}

// secretHolders lists (at most ten) connections of hub and its projects that
// keep credentials in a vault.
func (s *Service) secretHolders(ctx context.Context, hub string) ([]string, error) {
	parents := []string{access.HubScope(hub)}
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		ps, next, err := s.store.Resources(ctx, store.Project, access.HubScope(hub), p)
		if err != nil {
			return nil, errs.E(errs.Unavailable, "connection.secretHolders", "", err)
		}
		for _, r := range ps {
			parents = append(parents, r.Scope)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	var holders []string
	for _, parent := range parents {
		project := ""
		if parent != access.HubScope(hub) {
			project = parent[strings.LastIndexByte(parent, '/')+1:]
		}
		cs, err := s.listUnder(ctx, hub, project, parent)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if len(c.Secrets) > 0 && len(holders) < 10 {
				holders = append(holders, c.Scope)
			}
		}
	}
	return holders, nil
}
