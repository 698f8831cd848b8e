package review

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// This file is the review's view of long-lived keys: client secrets here,
// and, through KeySource, any other kind (AI services accounts' keys).

// Key is a long-lived credential whose age the review checks: one created
// more than the period ago is reported as not rotated (StaleKey).
type Key struct {
	ID          string    // the finding's subject: the credential's or key's id
	Kind        string    // what it is, for people: "client secret", "account key"
	Owner       string    // whose it is, for people: `service principal "build-bot" (appId ...)`
	PrincipalID string    // the principal it signs in as, if any: its role assignments raise the severity
	Scope       string    // where it lives on the scope tree; "" for the tenant
	Created     time.Time // when it was made, which for a key is when it was last rotated
	Expires     time.Time // zero: never; a key past its expiry no longer works and is not reported
	Rotate      string    // the command that rotates it
}

// KeySource lists keys of one kind, calling visit for each. It is called
// once per review; an error ends the review (return an errs.Error with
// Kind Unavailable when the store cannot be read). Implementations belong
// to the domain that owns the keys; cmd/latchkey passes them in Options.
type KeySource func(ctx context.Context, visit func(Key)) error

// clientSecrets lists the client secrets of service principals.
func (r *run) clientSecrets(ctx context.Context, visit func(Key)) error {
	return pages(func(p store.Page) (string, error) {
		cs, next, err := r.s.store.AllCredentials(ctx, p)
		if err != nil {
			return "", unavailable("credentials", err)
		}
		for _, c := range cs {
			pr := r.principals[c.PrincipalID]
			if c.Kind != store.SecretCredential || pr == nil {
				continue
			}
			k := Key{ID: c.ID, Kind: "client secret", Owner: describe(pr.p), PrincipalID: pr.p.ID, Scope: pr.p.Scope,
				Created: c.Created, Expires: c.Expires, Rotate: "latchkey sp credential reset --id " + pr.p.AppID}
			if c.Name != "" {
				k.Kind = "client secret " + quote(c.Name)
			}
			visit(k)
		}
		return next, nil
	})
}
