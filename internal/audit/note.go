package audit

import (
	"context"
	"strings"
	"sync"
)

// A Note lets a domain add what it alone knows to the audit event of the
// request it serves: which principal an assignment was made for, with which
// role, and why. The HTTP layer puts a Note in each audited request's
// context (WithNote) and writes its Detail into the request's event, so one
// request stays one event. A Note is safe for concurrent use.
type Note struct {
	mu      sync.Mutex // guards scope and details
	scope   string
	details []string
}

type noteKey struct{}

// WithNote returns ctx carrying a new Note, and the Note.
func WithNote(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

// Annotate adds detail, about an operation on scope, to the Note in ctx.
// It reports false when ctx carries none (the work is not serving an
// audited request), so that the caller records an event of its own instead.
func Annotate(ctx context.Context, scope, detail string) bool {
	n, ok := ctx.Value(noteKey{}).(*Note)
	if !ok {
		return false
	}
	n.mu.Lock()
	if n.scope == "" {
		n.scope = scope
	}
	n.details = append(n.details, detail)
	n.mu.Unlock()
	return true
}

// Scope returns the scope of the first annotation, or "": the event's
// scope when the request's route could not name one (it lay in the body).
func (n *Note) Scope() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.scope
}

// Detail returns the details added so far, joined by "; ", or "".
func (n *Note) Detail() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.details, "; ")
}
