package vault

import "context"

// PurgeDue runs now what Run does every minute: purge the soft-deleted
// secrets past their scheduled date.
func (s *Service) PurgeDue(ctx context.Context) error { return s.purgeDue(ctx) }
