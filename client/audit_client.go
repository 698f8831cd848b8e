package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The management API's paths of the audit trail and the access review.
const (
	auditEventsPath  = "/api/v1/auditEvents"
	auditVerifyPath  = "/api/v1/auditTrail/verify"
	accessReviewPath = "/api/v1/accessReview"
)

// AuditEvents returns one page of the audit events that match f and the
// page after it (a zero SkipToken after the last). The caller needs
// Latchkey.Insights/auditEvents/read at f.Scope ("/" when empty).
func (c *Client) AuditEvents(ctx context.Context, f AuditFilter, p AuditPage) ([]AuditEvent, AuditPage, error) {
	pairs := []string{"principal", f.Principal, "operation", f.Operation, "scope", f.Scope, "result", f.Result,
		"since", rfc3339(f.Since), "until", rfc3339(f.Until), "skipToken", p.SkipToken}
	if f.Newest {
		pairs = append(pairs, "order", "newest")
	}
	if p.Top != 0 {
		pairs = append(pairs, "top", strconv.Itoa(p.Top))
	}
	var page List[AuditEvent]
	if err := c.do(ctx, http.MethodGet, withQuery(auditEventsPath, pairs...), nil, &page, http.StatusOK); err != nil {
		return nil, AuditPage{}, err
	}
	next := AuditPage{Top: p.Top}
	if page.NextLink != "" {
		u, err := url.Parse(page.NextLink)
		if err != nil || u.Query().Get("skipToken") == "" {
			return nil, AuditPage{}, fmt.Errorf("GET %s: the server's nextLink %q names no skipToken", auditEventsPath, page.NextLink)
		}
		next.SkipToken = u.Query().Get("skipToken")
	}
	return page.Value, next, nil
}

// VerifyAuditTrail walks the audit trail's hash chain on the server and
// says whether it holds and, when not, the first event that breaks it. The
// caller needs Latchkey.Insights/auditEvents/read at "/".
func (c *Client) VerifyAuditTrail(ctx context.Context) (AuditVerification, error) {
	var out AuditVerification
	err := c.do(ctx, http.MethodGet, auditVerifyPath, nil, &out, http.StatusOK)
	return out, err
}

// AccessReview reviews the last days days (0: the server's default, 30) at
// scope ("" for "/") and returns the findings, most severe first. The
// caller needs Latchkey.Authorization/accessReviews/read at scope.
func (c *Client) AccessReview(ctx context.Context, days int, scope string) ([]AccessFinding, error) {
	d := ""
	if days != 0 {
		d = strconv.Itoa(days)
	}
	var out List[AccessFinding]
	err := c.do(ctx, http.MethodGet, withQuery(accessReviewPath, "days", d, "scope", scope), nil, &out, http.StatusOK)
	return out.Value, err
}

// rfc3339 formats a filter's time; "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
