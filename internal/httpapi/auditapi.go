package httpapi

import (
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// This file is the management API of the audit trail (listing and chain
// verification) and of the access review. Their own requests are audited
// like every read: audit.go enqueues their events.

// auditEvents lists audit events at the route's scope (?scope=, "/" by
// default) and below, which the wrapper authorized:
// ?principal=&operation=&scope=&since=&until=&result=&order=&top=&skipToken=.
func (s *Server) auditEvents(w http.ResponseWriter, r *http.Request) error {
	const o = "httpapi.auditEvents"
	if s.auditStore == nil {
		return errs.E(errs.Unavailable, o, "this server keeps no audit trail", nil)
	}
	q := r.URL.Query()
	f := audit.Filter{Scope: "/", Operation: q.Get("operation"), Result: audit.Result(q.Get("result"))}
	var err error
	if sc := q.Get("scope"); sc != "" {
		if f.Scope, err = access.ParseScope(sc); err != nil {
			return err
		}
	}
	if f.Since, err = timeParam(q, "since"); err != nil {
		return err
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		return err
	}
	switch q.Get("order") {
	case "", "oldest":
	case "newest":
		f.Newest = true
	default:
		return errs.Invalidf(o, "order", "order must be oldest (the default) or newest")
	}
	if p := q.Get("principal"); p != "" {
		// A name or appId names a principal that exists; anything else is
		// taken as an object id, which may be a deleted principal's.
		f.PrincipalID = p
		if id, err := s.resolveAssignee(r, p); err == nil {
			f.PrincipalID = id
		}
	}
	page, err := auditPageOf(q)
	if err != nil {
		return err
	}
	entries, next, err := audit.Query(r.Context(), s.auditStore, f, page)
	var ee *errs.Error
	if errors.As(err, &ee) && ee.Kind == errs.Invalid && ee.Field == "" && page.After != "" {
		// The one Invalid that names no field: a cursor Query did not issue.
		return errs.Invalidf(o, "skipToken", "skipToken is not one this server issued: follow nextLink unchanged, or start again without it")
	}
	if err != nil {
		return err
	}
	list := client.List[client.AuditEvent]{Value: make([]client.AuditEvent, len(entries))}
	for i, e := range entries {
		list.Value[i] = auditEventOf(e)
	}
	if next != "" {
		q.Set("top", strconv.Itoa(page.Limit))
		q.Set("skipToken", next)
		list.NextLink = "https://" + publicHost(r) + r.URL.EscapedPath() + "?" + q.Encode()
	}
	return writeJSON(w, http.StatusOK, list)
}

// auditPageOf reads the paging parameters of the audit listing: top (1 to
// 1000, default 100) and skipToken (from the previous page's nextLink).
func auditPageOf(q url.Values) (store.Page, error) {
	p := store.Page{Limit: store.DefaultPageLimit, After: q.Get("skipToken")}
	if v := q.Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageLimit {
			return p, errs.Invalidf("httpapi.auditEvents", "top", "top must be a whole number from 1 to %d", store.MaxPageLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// timeParam reads the RFC 3339 time of parameter name; zero when absent.
func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errs.Invalidf("httpapi.auditEvents", name, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z, not %s", name, quoteShort(v))
	}
	return t, nil
}

func auditEventOf(e audit.Entry) client.AuditEvent {
	out := client.AuditEvent{
		Seq: e.Seq, Time: e.Time, CorrelationID: e.CorrelationID, PrincipalID: e.PrincipalID,
		PrincipalType: e.PrincipalType, PrincipalName: e.PrincipalName, AuthMethod: e.AuthMethod,
		Operation: e.Operation, Scope: e.Scope, Result: string(e.Result), Status: e.Status, Reason: e.Reason,
		Hash: hex.EncodeToString(e.Hash),
	}
	if e.ClientIP.IsValid() {
		out.ClientIP = e.ClientIP.String()
	}
	return out
}

// verifyAuditTrail walks the whole chain; it reads every event once.
func (s *Server) verifyAuditTrail(w http.ResponseWriter, r *http.Request) error {
	if s.auditStore == nil {
		return errs.E(errs.Unavailable, "httpapi.verifyAuditTrail", "this server keeps no audit trail", nil)
	}
	v, err := audit.Verify(r.Context(), s.auditStore)
	if err != nil {
		return err
	}
	out := client.AuditVerification{Intact: v.Intact(), Batches: v.Batches, Events: v.Events,
		Head: hex.EncodeToString(v.Head.Hash), FirstSeq: v.FirstSeq}
	if b := v.Broken; b != nil {
		out.Broken = &client.AuditBreak{Seq: b.Seq, Batch: b.Batch, Reason: b.Reason}
	}
	return writeJSON(w, http.StatusOK, out)
}

// accessReview reviews ?days= (default 30) at ?scope= (default "/"), which
// the wrapper authorized.
func (s *Server) accessReview(w http.ResponseWriter, r *http.Request) error {
	const o = "httpapi.accessReview"
	if s.review == nil {
		return errs.E(errs.Unavailable, o, "this server runs no access review", nil)
	}
	q := r.URL.Query()
	days := 30
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errs.Invalidf(o, "days", "days must be a whole number of days, such as 30, not %s", quoteShort(v))
		}
		days = n
	}
	scope := q.Get("scope")
	if scope == "" {
		scope = "/"
	}
	fs, err := s.review.Review(r.Context(), days, scope)
	if err != nil {
		return err
	}
	list := client.List[client.AccessFinding]{Value: make([]client.AccessFinding, len(fs))}
	for i, f := range fs {
		list.Value[i] = client.AccessFinding{Kind: string(f.Kind), Severity: string(f.Severity), Subject: f.Subject,
			Scope: f.Scope, Detail: f.Detail, Suggestion: f.Suggestion}
	}
	return writeJSON(w, http.StatusOK, list)
}
