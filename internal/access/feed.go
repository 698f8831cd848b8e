package access

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Run keeps the index in step with the store's change feed until ctx is done,
// when this Service has a follower of its own (tests); with the process's
// shared follower (Options.Feed) the caller runs that instead. Writes made
// through this Service are applied before they return, and every other live
// replica has applied them too (Options.Sync); a request on a replica that
// heard of a change but did not apply it yet catches up first.
func (s *Service) Run(ctx context.Context) error {
	if !s.ownFeed {
		<-ctx.Done()
		return nil
	}
	s.feed.Run(ctx, 5*time.Second, func(err error) {
		s.log.Warn("access index could not follow the change feed; retrying", "err", err)
	})
	return nil
}

// applied makes a write visible: this replica reloads what it changed (a
// principal's assignments, or the custom roles when principalID is ""), then
// every other replica has applied it before the caller answers.
func (s *Service) applied(ctx context.Context, principalID string) error {
	var err error
	if principalID == "" {
		err = s.refreshRoles(ctx)
	} else {
		err = s.reloadPrincipal(ctx, principalID)
	}
	if err != nil {
		return err
	}
	return s.sync(ctx)
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
