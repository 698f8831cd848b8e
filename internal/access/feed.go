package access

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// feedBatch is how many changes are applied per read of the feed.
const feedBatch = 1000

// Run follows the store's change feed until ctx is done, applying every change
// to role assignments and custom roles to the index, whichever replica made
// it. Writes made through this Service are applied before they return, so the
// writer's next request sees them; other replicas see them as soon as the
// feed signals (PostgreSQL NOTIFY) or, at worst, at the next poll.
func (s *Service) Run(ctx context.Context) error {
	signal := s.store.ChangeSignal(ctx)
	safety := time.NewTicker(5 * time.Second) // in case a signal is lost
	defer safety.Stop()
	for {
		if err := s.catchUp(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("access index could not follow the change feed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-signal:
		case <-safety.C:
		}
	}
}

// catchUp applies every change since the last one applied.
func (s *Service) catchUp(ctx context.Context) error {
	for {
		after := s.lastSeq.Load()
		cs, err := s.store.ChangesSince(ctx, after, feedBatch)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return nil
		}
		if err := s.apply(ctx, cs); err != nil {
			return err
		}
		s.lastSeq.Store(cs[len(cs)-1].Seq)
		if len(cs) < feedBatch {
			return nil
		}
	}
}

// apply reloads what a batch of changes touched, once per principal.
func (s *Service) apply(ctx context.Context, cs []store.Change) error {
	principals := map[string]bool{}
	roles := false
	for _, c := range cs {
		switch c.Topic {
		case store.TopicRoleAssignment, store.TopicPrincipal:
			principals[c.Key] = true
		case store.TopicRoleDefinition:
			roles = true
		}
	}
	if roles {
		if err := s.refreshRoles(ctx); err != nil {
			return err
		}
	}
	for id := range principals {
		if err := s.reloadPrincipal(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
