package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
)

// readyTimeout bounds the readiness check so a hung database fails the probe
// instead of hanging it.
const readyTimeout = 2 * time.Second

type status struct {
	Status string `json:"status"`
}

// healthz answers 200 while the process serves HTTP at all (liveness).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, status{Status: "ok"})
}

// readyz answers 200 when the server can do its work (the store answers), and
// 503 otherwise, so a load balancer stops sending it traffic.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		return errs.E(errs.Unavailable, "httpapi.readyz", "not ready: the store does not answer", err)
	}
	return writeJSON(w, http.StatusOK, status{Status: "ready"})
}

// serveMetrics exposes the Prometheus registry. Metric labels never carry user
// input or secret values: only values from sets fixed in code (metrics.go).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	return errs.E(errs.NotFound, "httpapi", "no such endpoint: "+r.Method+" "+r.URL.Path, nil)
}
