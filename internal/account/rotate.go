package account

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// A rotation gives both keys of an account new values without a failed call,
// in the four steps Azure documents: move consumers to key2, regenerate
// key1, move consumers back to key1, regenerate key2. Moving consumers sets
// the account's active key, which consumers read (ActiveKey); a regeneration
// waits until the old key has gone unused for a quiet period, so that a
// consumer still on it is named instead of broken.

// RotateOptions say how a rotation step is taken.
type RotateOptions struct {
	// QuietPeriod is how long the key about to be regenerated must have gone
	// unused; zero or less means DefaultQuietPeriod.
	QuietPeriod time.Duration
	// Force regenerates without waiting for the quiet period.
	Force bool
}

// RotationStep is what one call of RotateKeys did, or why it held back.
type RotationStep struct {
	Step      int    // 1 to 4
	Action    string // what the step does, such as "regenerate key1"
	Done      bool   // the step was taken; false: held back (see Held)
	ActiveKey string // the key consumers should use after the call
	// Held lists the callers that used the key the step would regenerate
	// within the quiet period, newest first.
	Held []KeyUse
	// RetryAt is when a held step may be taken, if nobody uses the key
	// meanwhile.
	RetryAt time.Time
	// Finished says the rotation is complete: both keys are new.
	Finished bool
}

// stepActions describe the steps.
var stepActions = [...]string{
	1: "move consumers to key2",
	2: "regenerate key1",
	3: "move consumers back to key1",
	4: "regenerate key2",
}

// RotateKeys takes the next step of the account's key rotation, starting one
// when none is under way: a step that moves consumers is taken at once; one
// that regenerates a key is held back (Done false, the callers named in Held)
// while that key was used within the quiet period, unless Force. Call it
// again until Finished. The caller needs AccountsRegenerateKey there. Kinds:
// Invalid, NotFound, Forbidden, Conflict.
func (s *Service) RotateKeys(ctx context.Context, callerID, name string, opts RotateOptions) (RotationStep, error) {
	if opts.QuietPeriod <= 0 {
		opts.QuietPeriod = DefaultQuietPeriod
	}
	a, err := s.enter(ctx, callerID, access.AccountsRegenerateKey, name)
	if err != nil {
		return RotationStep{}, err
	}
	unlock := s.lockRotation(a.Name)
	defer unlock()
	// The step is computed from the record as read here, and every write
	// it makes is conditional on the record being as it left it: a step
	// taken at the same time on another replica makes this one Conflict
	// before it regenerates a key, or makes the other one Conflict.
	a, prev, err := s.reread(ctx, a.Name)
	if err != nil {
		return RotationStep{}, err
	}
	next := *a
	step := 1
	if a.Rotation != nil {
		step = a.Rotation.Step
	}
	if step < 1 || step >= len(stepActions) {
		return RotationStep{}, errs.E(errs.Internal, "account.RotateKeys", "", fmt.Errorf("account %s records rotation step %d", a.Name, step))
	}
	out := RotationStep{Step: step, Action: stepActions[step]}
	now := store.Time(s.now())
	switch step {
	case 1, 3:
		r := Rotation{Started: now}
		if a.Rotation != nil {
			r = *a.Rotation
		}
		r.Step, r.StepStarted = step+1, now
		next.ActiveKey, next.Rotation = map[int]string{1: store.Key2, 3: store.Key1}[step], &r
	case 2, 4:
		old := map[int]string{2: store.Key1, 4: store.Key2}[step]
		if !opts.Force {
			held, retryAt, err := s.usedWithin(ctx, &next, &prev, old, opts.QuietPeriod)
			if err != nil || len(held) > 0 {
				out.ActiveKey, out.Held, out.RetryAt = next.ActiveKey, held, retryAt
				return out, err
			}
		}
		if err := s.regenerate(ctx, a.Name, old); err != nil {
			return RotationStep{}, err
		}
		if step == 4 {
			next.Rotation, next.LastRotated, out.Finished = nil, now, true
		} else {
			r := *a.Rotation
			r.Step, r.StepStarted = 3, now
			next.Rotation = &r
		}
	}
	if err := s.savePropertiesIf(ctx, &next, &prev); err != nil {
		return RotationStep{}, err
	}
	out.Done, out.ActiveKey = true, next.ActiveKey
	return out, nil
}

// reread reads the account's record from the store, past the cache, so that
// a rotation step starts from the last step taken on any replica. It
// returns the record's properties as stored too.
func (s *Service) reread(ctx context.Context, name string) (*Account, []byte, error) {
	r, err := s.store.ResourceByName(ctx, store.Account, name)
	if err != nil {
		return nil, nil, store.Error("account.RotateKeys", "account "+name, err)
	}
	a, err := accountOf(r)
	if err != nil {
		return nil, nil, errs.E(errs.Internal, "account.RotateKeys", "", err)
	}
	return a, r.Properties, nil
}

// usedWithin returns the callers that used key kn of account a within quiet
// of now, and when the key will have been quiet that long. First it records
// the check on a's record, if the record still holds *prev: every replica,
// applying that change, writes the uses it counted of a's keys, and the
// write waits until each has applied it, so the uses read next are every
// replica's.
func (s *Service) usedWithin(ctx context.Context, a *Account, prev *[]byte, kn string, quiet time.Duration) ([]KeyUse, time.Time, error) {
	r := *a.Rotation
	r.Checked = store.Time(s.now())
	a.Rotation = &r
	if err := s.savePropertiesIf(ctx, a, prev); err != nil {
		return nil, time.Time{}, err
	}
	uses, err := s.keyUses(ctx, a.Name)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := s.now()
	var held []KeyUse
	var retryAt time.Time
	for _, u := range uses {
		if u.Key != kn || now.Sub(u.LastUsed) >= quiet {
			continue
		}
		held = append(held, u)
		if t := u.LastUsed.Add(quiet); t.After(retryAt) {
			retryAt = t
		}
	}
	return held, retryAt, nil
}

// lockRotation serialises the rotation steps of one account in this process
// and returns the unlock.
func (s *Service) lockRotation(account string) func() {
	s.rotationsMu.Lock()
	m, ok := s.rotations[account]
	if !ok {
		m = &sync.Mutex{}
		s.rotations[account] = m
	}
	s.rotationsMu.Unlock()
	m.Lock()
	return m.Unlock
}
