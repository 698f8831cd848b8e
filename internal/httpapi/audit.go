package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
)

// This file feeds the audit trail: one event for every request of an
// authenticated surface, allowed or denied, and for every token issued or
// refused. Reads are enqueued (the hot path never waits for the store);
// writes are recorded durably before their response leaves, so an
// acknowledged write always has its event.

// Auditor is what the HTTP layer needs of the audit trail (*audit.Writer).
type Auditor interface {
	Enqueue(e audit.Event) bool
	Record(ctx context.Context, e audit.Event) error
}

const auditNoteKey ctxKey = iota + 300

// auditNote lets a handler tell the audit event what only it knows: the
// precise scope (a secret in a vault) or, on the token endpoint, who the
// caller turned out to be. It is per request and written by one goroutine.
type auditNote struct {
	scope         string
	principalID   string
	principalType string
	principalName string
	authMethod    string
	// domain is what the domain services added (audit.Annotate): the
	// detail of an access change.
	domain *audit.Note
}

// noteAudit returns the request's audit note, or a throwaway one.
func noteAudit(ctx context.Context) *auditNote {
	if n, ok := ctx.Value(auditNoteKey).(*auditNote); ok {
		return n
	}
	return &auditNote{}
}

// audited reports whether requests of rt leave audit events: every route
// that authenticates, and the token endpoint.
func audited(rt route) bool {
	return rt.action != ActionPublic || rt.surface == surfaceOAuth && rt.pattern == tokenPattern
}

// isWrite reports whether a request changes state, and so must have its
// event stored before its response.
func isWrite(r *http.Request) bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead
}

// auditEvent builds the event of a finished request.
func (s *Server) auditEvent(r *http.Request, rt route, status int, err error) audit.Event {
	n := noteAudit(r.Context())
	e := audit.Event{
		Time: s.now(), CorrelationID: requestID(r.Context()), Operation: string(rt.action), Status: status,
		PrincipalID: n.principalID, PrincipalType: n.principalType, PrincipalName: n.principalName,
		AuthMethod: n.authMethod, Scope: n.scope,
	}
	if rt.action == ActionPublic {
		e.Operation = audit.TokenOperation
	}
	if c := caller(r.Context()); c != nil {
		e.PrincipalID, e.PrincipalName, e.AuthMethod = c.ObjectID, c.AppID, "bearer"
		e.PrincipalType = principalType(c.IDType, c.ManagedIdentity)
		if c.Name != "" {
			e.PrincipalName = c.Name
		}
	}
	if e.Scope == "" {
		e.Scope = n.domain.Scope()
	}
	if e.Scope == "" && !rt.inHandler && rt.action != ActionPublic {
		e.Scope = "/" // a route without a scope function acts on the tenant
		if rt.scope != nil {
			e.Scope = rt.scope(r)
		}
	}
	if ip, perr := netip.ParseAddr(s.clientIP(r)); perr == nil {
		e.ClientIP = ip
	}
	switch {
	case err == nil && status < 400:
		e.Result = audit.Allowed
	case errs.KindOf(err) == errs.Unauthenticated || errs.KindOf(err) == errs.Forbidden || status == 401 || status == 403:
		e.Result, e.Reason = audit.Denied, errs.Message(err)
	default:
		e.Result, e.Reason = audit.Failed, errs.Message(err)
	}
	if d := n.domain.Detail(); d != "" {
		e.Reason = strings.TrimSuffix(d+"; "+e.Reason, "; ")
	}
	return e
}

func principalType(idtyp, mirid string) string {
	switch {
	case mirid != "":
		return "ManagedIdentity"
	case idtyp == "user":
		return "User"
	}
	return "ServicePrincipal"
}

// bufferedWriter holds a write's response until its audit event is stored.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// flush sends the held response.
func (b *bufferedWriter) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
