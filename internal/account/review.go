package account

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/review"
	"github.com/latchkey/latchkey/internal/store"
)

var _ review.KeySource = (*Service)(nil).ReviewKeys

// ReviewKeys visits every account's key1 and key2 for the access review
// (a review.KeySource), so that a key not rotated in the review's period is
// reported with the command that rotates it. A key's Created is when its
// value was made: its last regeneration. Keys of an account deleted part
// way are left out. Kinds: Unavailable.
func (s *Service) ReviewKeys(ctx context.Context, visit func(review.Key)) error {
	const o = "account.ReviewKeys"
	scopes := map[string]string{} // account name -> scope, "" when gone
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		ks, next, err := s.store.AllAccountKeys(ctx, p)
		if err != nil {
			return errs.E(errs.Unavailable, o, "cannot read account keys", err)
		}
		for _, k := range ks {
			scope, seen := scopes[k.Account]
			if !seen {
				r, err := s.store.ResourceByName(ctx, store.Account, k.Account)
				switch {
				case errors.Is(err, store.ErrNotFound):
				case err != nil:
					return errs.E(errs.Unavailable, o, "cannot read account "+k.Account, err)
				default:
					scope = r.Scope
				}
				scopes[k.Account] = scope
			}
			if scope == "" {
				continue
			}
			visit(review.Key{
				ID: scope + "/keys/" + k.Name, Kind: "account key " + k.Name, Owner: `AI services account "` + k.Account + `"`,
				Scope: scope, Created: k.Created,
				Rotate: "latchkey cognitiveservices account keys rotate --name " + k.Account,
			})
		}
		if next == "" {
			return nil
		}
		p.After = next
	}
}
