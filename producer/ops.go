package producer

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// OpsHandler serves only /healthz, /readyz and /metrics, for their own
// listener (WACARD_OPS_ADDR); set Deps.SeparateOps so the API's router
// leaves them out. They need no API key.
func (s *Server) OpsHandler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.instrument)
	r.NotFound(s.handler(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound("no route for " + r.Method + " " + r.URL.Path + " on the health and metrics listener")
	}))
	s.opsRoutes(r)
	return r
}
