package httpapi

import "net/http"

// Action names what a route does, for the access decision. Every route declares
// one; a test walks the table and fails on a route without it.
type Action string

// ActionPublic marks a route that needs no authentication: probes, metrics and
// discovery documents. It must never touch tenant data.
const ActionPublic Action = "latchkey/public"

// handlerFunc is the shape of every handler: it writes a response or returns an
// error, which the route adapter hands to the error writer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one row of the table: a ServeMux pattern, its action and its handler.
type route struct {
	pattern string
	action  Action
	handle  handlerFunc
}

// routes is the table of every route Latchkey serves.
func (s *Server) routes() []route {
	return []route{
		{"GET /healthz", ActionPublic, s.healthz},
		{"GET /readyz", ActionPublic, s.readyz},
		{"GET /metrics", ActionPublic, s.serveMetrics},
		{"/", ActionPublic, s.notFound},
	}
}
