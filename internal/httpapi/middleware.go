package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
)

type ctxKey int

const requestIDKey ctxKey = iota

// requestID returns the id of the request in ctx, or "".
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// wrap adapts a route's handler to http.Handler: it gives the request an id,
// turns a returned error or a panic into the error response, and records the
// request in metrics and the debug log.
func (s *Server) wrap(rt route) http.Handler {
	auditing := s.auditor != nil && audited(rt)
	metrics := s.metrics.forRoute(rt)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		id := newRequestID()
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		if auditing {
			note := &auditNote{}
			ctx, note.domain = audit.WithNote(ctx)
			ctx = context.WithValue(ctx, auditNoteKey, note)
		}
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				err := errs.E(errs.Internal, "httpapi", "", fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
				if rec.status == 0 {
					s.writeError(rec, r, rt.surface, err)
				} else {
					s.log.ErrorContext(r.Context(), "panic after response started", "request_id", id, "err", err)
				}
			}
			d := s.now().Sub(start)
			metrics.observe(r.Method, rec.statusOrOK(), d)
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				s.log.LogAttrs(r.Context(), slog.LevelDebug, "request", logAttrs(r, rec.statusOrOK(), d)...)
			}
		}()
		// A write's response waits, held here, until its audit event is stored.
		var held *bufferedWriter
		out := http.ResponseWriter(rec)
		if auditing && isWrite(r) && rt.surface != surfaceOAuth && !rt.dataCall {
			held = &bufferedWriter{header: make(http.Header)}
			out = held
		}
		var err error
		if rt.action != ActionPublic {
			r, err = s.authorize(r, rt)
		}
		if err == nil {
			err = rt.handle(out, r)
		}
		if err != nil {
			if held == nil && rec.status != 0 {
				// Too late to change the status: the body is under way. Log it.
				s.log.ErrorContext(r.Context(), "request failed after response started", "request_id", id, "err", err)
			} else {
				s.writeError(out, r, rt.surface, err)
			}
		}
		if auditing {
			s.audit(r, rt, rec, held, err)
		}
	})
}

// audit records the request's event: a write's durably, before its held
// response is sent (or a 503 instead, should the store refuse it), a read's
// by enqueueing it.
func (s *Server) audit(r *http.Request, rt route, rec *statusRecorder, held *bufferedWriter, err error) {
	if held == nil {
		s.auditor.Enqueue(s.auditEvent(r, rt, rec.statusOrOK(), err))
		return
	}
	if held.status == 0 {
		held.status = http.StatusOK
	}
	if rerr := s.auditor.Record(r.Context(), s.auditEvent(r, rt, held.status, err)); rerr != nil {
		s.log.ErrorContext(r.Context(), "an audit record could not be stored; the request is answered 503", "request_id", requestID(r.Context()), "err", rerr)
		held = &bufferedWriter{header: make(http.Header)}
		s.writeError(held, r, rt.surface, errs.E(errs.Unavailable, "httpapi.audit",
			"the request was carried out, but its audit record could not be stored: check the server before retrying", rerr))
	}
	held.flush(rec)
}

// statusRecorder remembers the status a handler wrote. Unwrap lets
// http.ResponseController reach the underlying writer (Flush for streams).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) statusOrOK() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
