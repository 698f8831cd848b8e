package audit

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// The retention defaults: how long the trail keeps events unless told
// otherwise, and how often it prunes.
const (
	DefaultKeep       = 365 * 24 * time.Hour
	DefaultPruneEvery = time.Hour
)

// Retention prunes the audit trail: it deletes the batches committed more
// than Keep ago (store.Audit.PruneAudit), except the newest, which anchors
// the chain. Several replicas may each run one: a prune that finds nothing
// to delete costs one query.
type Retention struct {
	Store  store.Audit
	Keep   time.Duration    // how long events are kept; 0 or less keeps every event
	Every  time.Duration    // how often Run prunes; 0 means DefaultPruneEvery
	Now    func() time.Time // nil means time.Now
	Logger *slog.Logger     // nil discards
}

// Run prunes once at once and then every Every until ctx ends, and returns
// nil. A prune that fails is logged at Warn level and tried again at the
// next turn. With a Keep of 0 or less it logs that every event is kept and
// returns at once.
func (r Retention) Run(ctx context.Context) error {
	log := r.logger()
	if r.Keep <= 0 {
		log.Info("audit retention: every event is kept")
		return nil
	}
	every := cmp.Or(r.Every, DefaultPruneEvery)
	log.Info("audit retention", "keep", r.Keep, "every", every)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := r.Prune(ctx); err != nil && ctx.Err() == nil {
			log.Warn("could not prune the audit trail; trying again later", "retry_in", every, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Prune deletes, once, the batches committed before Now minus Keep (never
// the newest), logs what it deleted, and returns how many events that was.
// With a Keep of 0 or less it deletes nothing. Errors: Unavailable when the
// store refuses.
func (r Retention) Prune(ctx context.Context) (int64, error) {
	const op = "audit.Retention.Prune"
	if r.Keep <= 0 {
		return 0, nil
	}
	if r.Store == nil {
		return 0, errs.Invalidf(op, "store", "audit retention needs a store")
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	before := now().Add(-r.Keep).UTC()
	n, err := r.Store.PruneAudit(ctx, before)
	if err != nil {
		return 0, errs.E(errs.Unavailable, op, "cannot prune the audit trail", err)
	}
	if n > 0 {
		r.logger().Info("audit events pruned", "events", n, "before", before.Format(time.RFC3339))
	} else {
		r.logger().Debug("audit retention: nothing to prune", "before", before.Format(time.RFC3339))
	}
	return n, nil
}

func (r Retention) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}
