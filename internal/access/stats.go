package access

import "sync/atomic"

// Stats is a snapshot of the decisions Authorize made since the Service was
// built, for metrics: the HTTP layer exports them (access knows nothing of
// Prometheus). A request may need more than one decision (the vault service
// decides again what a route already decided), and a listing filtered item by
// item (Decide) or the escalation guard's checks of every action a role
// grants are not counted: only Authorize's answers are. Counts only grow.
type Stats struct {
	Control PlaneStats // decisions on control-plane actions
	Data    PlaneStats // decisions on data actions
	// UnknownAction counts decisions on an action not in the catalog, all
	// denied.
	UnknownAction uint64
}

// PlaneStats counts the decisions on one plane's actions by their answer.
type PlaneStats struct {
	Allowed, Denied uint64
}

// paddedCounter is a counter alone on its cache lines, so that the counters
// every request bumps do not slow each other down.
type paddedCounter struct {
	atomic.Uint64
	_ [120]byte
}

// decisionCounters are the Service's counts of decisions, updated without
// locks.
type decisionCounters struct {
	byPlane [2][2]paddedCounter // [Plane][allowed]
	unknown paddedCounter
}

// count records the answer of v.
func (c *decisionCounters) count(v verdict) {
	if !v.known || int(v.action.Plane) >= len(c.byPlane) {
		c.unknown.Add(1)
		return
	}
	i := 0
	if v.allowed {
		i = 1
	}
	c.byPlane[v.action.Plane][i].Add(1)
}

// Stats returns a snapshot of the decisions made so far. Counters are read
// one at a time while requests are decided, so they may disagree by one.
func (s *Service) Stats() Stats {
	c := &s.decisions
	return Stats{
		Control:       PlaneStats{Allowed: c.byPlane[Control][1].Load(), Denied: c.byPlane[Control][0].Load()},
		Data:          PlaneStats{Allowed: c.byPlane[Data][1].Load(), Denied: c.byPlane[Data][0].Load()},
		UnknownAction: c.unknown.Load(),
	}
}
