package account

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

// find returns the account named name, from the cache or the store. Kinds:
// NotFound, Unavailable.
func (s *Service) find(ctx context.Context, name string) (*Account, error) {
	s.fresh(ctx)
	name = strings.ToLower(name)
	a, ok, gen := s.accounts.get(name)
	if ok {
		return a, nil
	}
	r, err := s.store.ResourceByName(ctx, store.Account, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errs.E(errs.NotFound, "account", "account "+clip(name)+" does not exist: create it with latchkey cognitiveservices account create", err)
	case err != nil:
		return nil, errs.E(errs.Unavailable, "account", "", err)
	}
	if a, err = accountOf(r); err != nil {
		return nil, errs.E(errs.Internal, "account", "", err)
	}
	s.accounts.put(gen, a)
	return a, nil
}

// enter begins an operation on account name: it finds the account and
// authorizes action on its scope.
func (s *Service) enter(ctx context.Context, callerID, action, name string) (*Account, error) {
	a, err := s.find(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := s.access.Authorize(ctx, callerID, action, a.Scope); err != nil {
		return nil, err
	}
	return a, nil
}

// Get returns the account named name; the caller needs AccountsRead there.
// Kinds: NotFound, Forbidden.
func (s *Service) Get(ctx context.Context, callerID, name string) (Account, error) {
	a, err := s.enter(ctx, callerID, access.AccountsRead, name)
	if err != nil {
		return Account{}, err
	}
	return *a, nil
}

// List lists the accounts of hub ("" for every hub) that the caller may read,
// one page at a time.
func (s *Service) List(ctx context.Context, callerID, hub string, p store.Page) ([]Account, string, error) {
	parent := ""
	if hub != "" {
		parent = access.HubScope(hub)
	}
	rs, next, err := s.access.Resources(ctx, store.Account, parent, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]Account, 0, len(rs))
	for _, r := range rs {
		if !s.access.Decide(callerID, access.AccountsRead, r.Scope).Allowed {
			continue
		}
		a, err := accountOf(r)
		if err != nil {
			return nil, "", errs.E(errs.Internal, "account.List", "", err)
		}
		out = append(out, *a)
	}
	return out, next, nil
}

// Put creates the account name in hub as spec says, or, when it exists,
// changes what spec sets; created tells which. The caller needs AccountsWrite
// at the account; with an upstream key, also the right to write it into the
// hub's vault and to let the account's identity read it there (as Owner and
// Key Vault Administrator have). Kinds: Invalid, Forbidden, NotFound (hub),
// Conflict (an account of that name in another hub).
func (s *Service) Put(ctx context.Context, callerID, hub, name string, spec Spec) (a Account, created bool, err error) {
	const o = "account.Put"
	scope, err := access.ParseScope(access.AccountScope(hub, name))
	if err != nil {
		return Account{}, false, err
	}
	if err := s.access.Authorize(ctx, callerID, access.AccountsWrite, scope); err != nil {
		return Account{}, false, err
	}
	r, err := s.store.Resource(ctx, scope)
	switch {
	case err == nil:
		existing, err := accountOf(r)
		if err != nil {
			return Account{}, false, errs.E(errs.Internal, o, "", err)
		}
		if spec.empty() {
			return *existing, false, nil
		}
		a, err := s.update(ctx, callerID, existing, spec)
		return a, false, err
	case !errors.Is(err, store.ErrNotFound):
		return Account{}, false, errs.E(errs.Unavailable, o, "", err)
	}
	a, err = s.create(ctx, callerID, scope, spec)
	return a, err == nil, err
}

// Update changes what spec sets of the account named name; the caller needs
// what Put asks. Kinds: those of Put, and NotFound.
func (s *Service) Update(ctx context.Context, callerID, name string, spec Spec) (Account, error) {
	a, err := s.enter(ctx, callerID, access.AccountsWrite, name)
	if err != nil {
		return Account{}, err
	}
	return s.update(ctx, callerID, a, spec)
}

// create makes a new account at scope: its record, its identity, its keys,
// and its upstream key in a vault. A failure part way undoes what was done.
func (s *Service) create(ctx context.Context, callerID, scope string, spec Spec) (Account, error) {
	const o = "account.Put"
	name, hub := scope[strings.LastIndexByte(scope, '/')+1:], strings.Split(scope, "/")[2]
	p, err := spec.apply(o, properties{Kind: KindOpenAI, Upstream: Upstream{Auth: AuthNone}, ActiveKey: store.Key1})
	if err != nil {
		return Account{}, err
	}
	var target *secretTarget
	if spec.UpstreamKey != nil {
		if target, err = s.keyTarget(ctx, callerID, hub, name, spec.Vault); err != nil {
			return Account{}, err
		}
	}
	r, err := s.access.CreateResource(ctx, callerID, scope)
	if err != nil {
		return Account{}, err
	}
	a, err := accountOf(r)
	if err != nil {
		return Account{}, errs.E(errs.Internal, o, "", err)
	}
	a.properties = p
	var undo []func(context.Context)
	defer func() {
		if err != nil {
			ctx := context.WithoutCancel(ctx)
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i](ctx)
			}
			s.written(ctx)
		}
	}()
	undo = append(undo, func(ctx context.Context) { _ = s.access.DeleteResource(ctx, callerID, scope) })
	mi, err := s.identity.CreateSystemIdentity(ctx, scope)
	if err != nil {
		return Account{}, err
	}
	undo = append(undo, func(ctx context.Context) { _ = s.identity.DeletePrincipal(ctx, mi.ID) })
	a.Identity = Identity{PrincipalID: mi.ID, ClientID: mi.AppID}
	undo = append(undo, func(ctx context.Context) { _ = s.store.DeleteAccountKeys(ctx, name) })
	if err = s.makeKeys(ctx, name); err != nil {
		return Account{}, err
	}
	if target != nil {
		if err = s.storeUpstreamKey(ctx, callerID, a, target, *spec.UpstreamKey); err != nil {
			return Account{}, err
		}
	}
	if err = s.saveProperties(ctx, a); err != nil {
		return Account{}, err
	}
	return *a, nil
}

// update applies spec to account a.
func (s *Service) update(ctx context.Context, callerID string, a *Account, spec Spec) (Account, error) {
	const o = "account.Update"
	p, err := spec.apply(o, a.properties)
	if err != nil {
		return Account{}, err
	}
	next := *a
	next.properties = p
	var target *secretTarget
	if spec.UpstreamKey != nil {
		want := spec.Vault
		if want == "" {
			want = a.Upstream.Vault
		}
		if target, err = s.keyTarget(ctx, callerID, a.Hub, a.Name, want); err != nil {
			return Account{}, err
		}
	}
	// The key the account used goes once it no longer uses it: auth none or
	// identity, or a new key kept in another vault. Whether the caller may
	// delete it is checked before anything changes; it is deleted once the
	// account no longer points at it, so calls never find it gone.
	var old string // the old key's secret scope, to delete
	if a.Upstream.Secret != "" && (p.Upstream.Secret == "" || target != nil && target.vault != a.Upstream.Vault) {
		if old, err = s.mayDropUpstreamKey(ctx, callerID, a); err != nil {
			return Account{}, err
		}
	}
	if target != nil {
		if err := s.storeUpstreamKey(ctx, callerID, &next, target, *spec.UpstreamKey); err != nil {
			return Account{}, err
		}
	}
	if err := s.saveProperties(ctx, &next); err != nil {
		return Account{}, err
	}
	if old != "" {
		if err := s.dropUpstreamKey(ctx, callerID, a, old); err != nil {
			return Account{}, errs.E(errs.KindOf(err), o, fmt.Sprintf(
				"account %s was changed, but the upstream key it no longer uses, secret %s of vault %s, could not be deleted: %s. Delete it there (latchkey keyvault secret delete --vault-name %s --name %s)",
				a.Name, a.Upstream.Secret, a.Upstream.Vault, errs.Message(err), a.Upstream.Vault, a.Upstream.Secret), err)
		}
	}
	return next, nil
}

// makeKeys gives account name two fresh keys, replacing any a failed
// earlier attempt left.
func (s *Service) makeKeys(ctx context.Context, name string) error {
	const o = "account.makeKeys"
	if err := s.store.DeleteAccountKeys(ctx, name); err != nil {
		return errs.E(errs.Unavailable, o, "", err)
	}
	for _, kn := range []string{store.Key1, store.Key2} {
		k, err := s.sealKey(name, kn, newKeyValue())
		if err != nil {
			return err
		}
		if err := s.store.PutAccountKey(ctx, k, ""); err != nil {
			return store.Error(o, "key "+kn+" of account "+name, err)
		}
	}
	return nil
}

// saveProperties writes a's properties to its record and makes the write
// visible everywhere.
func (s *Service) saveProperties(ctx context.Context, a *Account) error {
	return s.savePropertiesIf(ctx, a, nil)
}

// savePropertiesIf is saveProperties on condition, when prev is not nil,
// that the record still holds *prev, the properties the change was computed
// from; *prev becomes what was written. A record changed since is Conflict.
func (s *Service) savePropertiesIf(ctx context.Context, a *Account, prev *[]byte) error {
	r, err := s.store.Resource(ctx, a.Scope)
	if err != nil {
		return store.Error("account.save", "account "+a.Name, err)
	}
	r.Properties = a.encode()
	r.Updated = store.Time(s.now())
	if prev == nil {
		err = s.store.UpdateResource(ctx, r)
	} else {
		err = s.store.UpdateResourceIf(ctx, r, *prev)
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		return errs.E(errs.Conflict, "account.save", fmt.Sprintf(
			"account %s changed while this step was taken (another rotation step, or a change, on this or another server): nothing was saved; run the step again, it continues from where the account is", a.Name), err)
	case err != nil:
		return store.Error("account.save", "account "+a.Name, err)
	}
	if prev != nil {
		*prev = r.Properties
	}
	a.Updated = r.Updated
	s.accounts.drop(a.Name)
	s.tokens.drop(a.Name)
	s.written(ctx)
	return nil
}

// Delete deletes the account named name: its upstream key (soft-deleted
// from its vault, recoverable for the vault's retention), its record, its
// keys (which, with every token minted from them, stop working at once) and
// its identity with the identity's role assignments. The caller needs
// AccountsDelete there, and SecretsDelete on the upstream key's secret: the
// key goes first, so a caller who may not delete it deletes nothing, and a
// failure after it leaves an account that a retry deletes. Kinds: NotFound,
// Forbidden, Unavailable.
func (s *Service) Delete(ctx context.Context, callerID, name string) error {
	const o = "account.Delete"
	a, err := s.enter(ctx, callerID, access.AccountsDelete, name)
	if err != nil {
		return err
	}
	if a.Upstream.Secret != "" {
		// A secret already gone (deleted by hand, or by an earlier attempt)
		// is NotFound, and so is a vault gone with it.
		_, err := s.vault.Delete(ctx, callerID, a.Upstream.Vault, a.Upstream.Secret)
		switch {
		case errs.Is(err, errs.Forbidden):
			return errs.E(errs.Forbidden, o, fmt.Sprintf(
				"deleting account %s deletes its upstream key too, secret %s of vault %s, and the caller may not delete that secret: %s. Ask for Key Vault Secrets Officer on the secret or its vault",
				a.Name, a.Upstream.Secret, a.Upstream.Vault, errs.Message(err)), err)
		case err != nil && !errs.Is(err, errs.NotFound):
			return err
		}
	}
	if err := s.access.DeleteResource(ctx, callerID, a.Scope); err != nil {
		return err
	}
	// The record is gone first: keys left by a failure below match no
	// account, and a new account of this name replaces them.
	if err := s.store.DeleteAccountKeys(ctx, a.Name); err != nil {
		return errs.E(errs.Unavailable, o, "", err)
	}
	if a.Identity.PrincipalID != "" {
		if err := s.identity.DeletePrincipal(ctx, a.Identity.PrincipalID); err != nil && !errs.Is(err, errs.NotFound) {
			s.log.WarnContext(ctx, "the identity of a deleted account could not be deleted", "account", a.Name, "principal_id", a.Identity.PrincipalID, "err", err)
		}
	}
	s.accounts.drop(a.Name)
	s.tokens.drop(a.Name)
	s.uses.forget(a.Name)
	s.written(ctx)
	return nil
}

// mayDropUpstreamKey checks that the caller may delete account a's upstream
// key secret and its identity's role assignments there (SecretsDelete and
// RoleAssignmentsDelete), and returns the secret's scope; "" when its vault
// is gone, and with it the secret.
func (s *Service) mayDropUpstreamKey(ctx context.Context, callerID string, a *Account) (string, error) {
	const o = "account.dropUpstreamKey"
	v, err := s.store.ResourceByName(ctx, store.Vault, a.Upstream.Vault)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", errs.E(errs.Unavailable, o, "", err)
	}
	scope := v.Scope + "/secrets/" + a.Upstream.Secret
	if missing := s.missing(callerID, scope, access.RoleAssignmentsDelete, access.SecretsDelete); len(missing) > 0 {
		return "", errs.E(errs.Forbidden, o, fmt.Sprintf(
			"account %s would no longer use its upstream key, so its secret %s of vault %s is deleted with its identity's access to it: the caller lacks %s at %s. Ask for Key Vault Secrets Officer and User Access Administrator there",
			a.Name, a.Upstream.Secret, a.Upstream.Vault, strings.Join(missing, ", "), scope), nil)
	}
	return scope, nil
}

// dropUpstreamKey removes the role assignments of account a's identity at
// scope, the scope of a's upstream key secret, and soft-deletes the secret,
// as the caller (see mayDropUpstreamKey). A secret already gone is not an
// error.
func (s *Service) dropUpstreamKey(ctx context.Context, callerID string, a *Account, scope string) error {
	if a.Identity.PrincipalID != "" {
		as, _, err := s.access.Assignments(ctx, store.AssignmentFilter{PrincipalID: a.Identity.PrincipalID, Scope: scope}, store.Page{Limit: 100})
		if err != nil {
			return err
		}
		for _, as := range as {
			if err := s.access.DeleteAssignment(ctx, callerID, as.ID); err != nil && !errs.Is(err, errs.NotFound) {
				return err
			}
		}
	}
	if _, err := s.vault.Delete(ctx, callerID, a.Upstream.Vault, a.Upstream.Secret); err != nil && !errs.Is(err, errs.NotFound) {
		return err
	}
	return nil
}

// secretTarget is where an account's upstream key goes: a vault of its hub,
// the secret's name there, and that secret's scope; deleted says the secret
// is soft-deleted (its account was deleted), so it is recovered first.
type secretTarget struct {
	vault, secret, scope string
	deleted              bool
}

// upstreamSecretName is the name of an account's upstream key in its vault.
func upstreamSecretName(account string) string { return "account-" + account + "-upstream" }

// keyTarget chooses the vault of hub that keeps account's upstream key
// (want, or the hub's only vault) and checks, before anything is written,
// that the caller may put the key there and let the account's identity read
// it. Kinds: Invalid, Forbidden, Unavailable.
func (s *Service) keyTarget(ctx context.Context, callerID, hub, account, want string) (*secretTarget, error) {
	const o = "account.upstreamKey"
	hubScope := access.HubScope(hub)
	var v store.Resource
	if want != "" {
		r, err := s.store.ResourceByName(ctx, store.Vault, strings.ToLower(want))
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && r.Parent != hubScope:
			return nil, errs.Invalidf(o, "upstream.vault", "hub %s has no vault %s to keep the upstream key: name one of its vaults, or create it (latchkey keyvault create --hub %s --name %s)", hub, clip(want), hub, clip(want))
		case err != nil:
			return nil, errs.E(errs.Unavailable, o, "", err)
		}
		v = r
	} else {
		vs, _, err := s.access.Resources(ctx, store.Vault, hubScope, store.Page{Limit: 10})
		if err != nil {
			return nil, err
		}
		switch len(vs) {
		case 0:
			return nil, errs.Invalidf(o, "upstream.vault", "hub %s has no vault to keep the upstream key in: create one (latchkey keyvault create --hub %s --name NAME)", hub, hub)
		case 1:
			v = vs[0]
		default:
			names := make([]string, len(vs))
			for i, r := range vs {
				names[i] = r.Name
			}
			return nil, errs.Invalidf(o, "upstream.vault", "hub %s has several vaults (%s): name the one that keeps the upstream key (latchkey: --upstream-key-vault)", hub, strings.Join(names, ", "))
		}
	}
	t := &secretTarget{vault: v.Name, secret: upstreamSecretName(account)}
	t.scope = v.Scope + "/secrets/" + t.secret
	missing := s.missing(callerID, t.scope, access.SecretsSet, access.RoleAssignmentsWrite, access.SecretsGet, access.SecretsReadMetadata)
	if len(missing) == 0 { // the caller may read the secret's metadata
		switch _, err := s.vault.GetDeleted(ctx, callerID, t.vault, t.secret); {
		case err == nil:
			t.deleted = true
			missing = s.missing(callerID, t.scope, access.SecretsRecover)
		case !errs.Is(err, errs.NotFound):
			return nil, err
		}
	}
	if len(missing) > 0 {
		recovered := ""
		if t.deleted {
			recovered = " (the secret is soft-deleted, left by a deleted account of this name, and is recovered first)"
		}
		return nil, errs.E(errs.Forbidden, o, fmt.Sprintf(
			"the upstream key goes into vault %s as secret %s%s, readable by the account's identity: the caller lacks %s at %s. Ask for Key Vault Administrator and Owner (or User Access Administrator) there",
			t.vault, t.secret, recovered, strings.Join(missing, ", "), t.scope), nil)
	}
	return t, nil
}

// missing returns those of actions the caller may not take at scope.
func (s *Service) missing(callerID, scope string, actions ...string) []string {
	var out []string
	for _, action := range actions {
		if !s.access.Decide(callerID, action, scope).Allowed {
			out = append(out, action)
		}
	}
	return out
}

// storeUpstreamKey writes the upstream key as a new version of the account's
// secret, as the caller, and lets the account's identity read that secret.
// A secret soft-deleted with an earlier account of this name is recovered
// first: its old versions come back, under the new current one.
func (s *Service) storeUpstreamKey(ctx context.Context, callerID string, a *Account, t *secretTarget, key Key) error {
	if t.deleted {
		if _, err := s.vault.Recover(ctx, callerID, t.vault, t.secret); err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
	}
	if _, err := s.vault.Set(ctx, callerID, t.vault, t.secret, vault.SetParams{
		Value: vault.NewValue([]byte(key.s)), ContentType: "application/vnd.latchkey.upstream-key",
		Tags: map[string]string{"account": a.Name},
	}); err != nil {
		return err
	}
	_, err := s.access.CreateAssignment(ctx, callerID, a.Identity.PrincipalID, access.KeyVaultSecretsUserID, t.scope)
	if err != nil && !errs.Is(err, errs.Conflict) {
		return err
	}
	a.Upstream.Vault, a.Upstream.Secret = t.vault, t.secret
	return nil
}
