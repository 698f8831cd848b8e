package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// followBatch is how many changes a Follower reads at a time.
const followBatch = 1000

// heartbeat is how often a Follower with a replica id reports, even when
// nothing changes, so that writers know it is alive (see Barrier).
const heartbeat = time.Second

// Follower keeps a process's caches in step with the change feed: it applies
// every change since the last one applied, to every subscriber, when the feed
// signals and on a slow safety timer. Fresh lets a request catch up
// synchronously when a signal has arrived that was not applied yet; at steady
// state it costs one atomic load. With a replica id it reports how far it has
// applied (Replicas), for writers that wait with a Barrier. A Follower is safe
// for concurrent use; subscribe before Run.
type Follower struct {
	changes Changes

	mu          sync.Mutex // serialises catch-ups; guards the fields below it
	applies     []func(ctx context.Context, cs []Change) error
	replicas    Replicas
	id          string
	now         func() time.Time
	lastReport  time.Time
	reportedSeq int64

	seq     atomic.Int64
	pending atomic.Bool // a signal arrived since the last catch-up began
}

// NewFollower returns a Follower that has applied every change up to from and
// applies later ones with apply, and with whatever subscribes later.
func NewFollower(changes Changes, from int64, apply ...func(ctx context.Context, cs []Change) error) *Follower {
	f := &Follower{changes: changes, applies: apply, now: time.Now, reportedSeq: -1}
	f.seq.Store(from)
	return f
}

// Subscribe adds a cache to keep in step. Call it before Run.
func (f *Follower) Subscribe(apply func(ctx context.Context, cs []Change) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies = append(f.applies, apply)
}

// ReportTo makes the Follower report its progress to r as replica id, with
// clock now. Call it before Run.
func (f *Follower) ReportTo(r Replicas, id string, now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replicas, f.id, f.now = r, id, now
}

// Seq returns the last change applied.
func (f *Follower) Seq() int64 { return f.seq.Load() }

// Run follows the feed until ctx is done. Errors of a catch-up go to onError;
// the next signal or tick retries. A reporting Follower forgets its replica
// record when it stops.
func (f *Follower) Run(ctx context.Context, safety time.Duration, onError func(error)) {
	signal := f.changes.ChangeSignal(ctx)
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // marks a signal pending the moment it arrives
		defer wg.Done()
		for range signal {
			f.pending.Store(true)
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	defer wg.Wait()
	f.mu.Lock()
	reporting := f.replicas != nil
	f.mu.Unlock()
	if reporting {
		safety = min(safety, heartbeat)
		defer func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			_ = f.replicas.ForgetReplica(context.WithoutCancel(ctx), f.id)
		}()
	}
	tick := time.NewTicker(safety)
	defer tick.Stop()
	for {
		if err := f.CatchUp(ctx); err != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

// Fresh catches up if a signal arrived that was not applied yet, unless a
// catch-up is under way already: then it returns at once rather than queue
// behind it. A writer's own next request never depends on Fresh: the writer
// waited (Barrier) until every replica had applied its write.
func (f *Follower) Fresh(ctx context.Context) error {
	if !f.pending.Load() || !f.mu.TryLock() {
		return nil
	}
	defer f.mu.Unlock()
	return f.catchUp(ctx)
}

// CatchUp applies every change since the last one applied, then reports.
func (f *Follower) CatchUp(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.catchUp(ctx)
}

// catchUp is CatchUp with f.mu held.
func (f *Follower) catchUp(ctx context.Context) error {
	f.pending.Store(false) // a signal from now on asks for another catch-up
	for {
		cs, err := f.changes.ChangesSince(ctx, f.seq.Load(), followBatch)
		if err != nil {
			f.pending.Store(true)
			return err
		}
		for _, apply := range f.applies {
			if len(cs) == 0 {
				break
			}
			if err := apply(ctx, cs); err != nil {
				f.pending.Store(true)
				return err
			}
		}
		if len(cs) > 0 {
			f.seq.Store(cs[len(cs)-1].Seq)
		}
		if len(cs) < followBatch {
			return f.report(ctx)
		}
	}
}

// report tells the Replicas how far this replica is, when that changed or a
// heartbeat is due. Guarded by f.mu.
func (f *Follower) report(ctx context.Context) error {
	if f.replicas == nil {
		return nil
	}
	now, seq := f.now(), f.seq.Load()
	if seq == f.reportedSeq && now.Sub(f.lastReport) < heartbeat/2 {
		return nil
	}
	if err := f.replicas.ReportApplied(ctx, f.id, seq, now); err != nil {
		return err
	}
	f.reportedSeq, f.lastReport = seq, now
	return nil
}

// Barrier lets a writer wait until every live replica has applied its write,
// so that the writer's next request sees it on whichever replica it lands.
type Barrier struct {
	changes  Changes
	replicas Replicas
	now      func() time.Time
	// Alive is how recently a replica must have reported to be waited for;
	// Timeout bounds the wait (the write is committed either way).
	Alive, Timeout, Poll time.Duration
}

// NewBarrier returns a Barrier with a 3 s liveness window, a 2 s timeout and
// a 1 ms poll.
func NewBarrier(changes Changes, replicas Replicas, now func() time.Time) *Barrier {
	return &Barrier{changes: changes, replicas: replicas, now: now, Alive: 3 * heartbeat, Timeout: 2 * time.Second, Poll: time.Millisecond}
}

// Wait returns once every live replica has applied every change committed
// before the call, or with the ids of those still behind at the timeout.
func (b *Barrier) Wait(ctx context.Context) (behind []string, err error) {
	seq, err := b.changes.LatestChange(ctx)
	if err != nil {
		return nil, err
	}
	deadline := b.now().Add(b.Timeout)
	timer := time.NewTimer(b.Poll)
	defer timer.Stop()
	for {
		now := b.now()
		behind, err = b.replicas.LaggingReplicas(ctx, seq, now.Add(-b.Alive))
		if err != nil || len(behind) == 0 || now.After(deadline) {
			return behind, err
		}
		timer.Reset(b.Poll)
		select {
		case <-ctx.Done():
			return behind, ctx.Err()
		case <-timer.C:
		}
	}
}
