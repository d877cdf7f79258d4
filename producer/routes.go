package producer

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// routes lists every route of the API.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.instrument, s.authenticate)
	r.NotFound(s.handler(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound("no route for " + r.Method + " " + r.URL.Path)
	}))
	r.MethodNotAllowed(s.handler(func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{Status: http.StatusMethodNotAllowed, Code: "METHOD_NOT_ALLOWED", Message: r.Method + " is not allowed on " + r.URL.Path}
	}))

	r.Post("/send/contact", s.handler(s.handleSendContact))
	r.Post("/send/message", s.handler(s.handleSendMessage))
	r.Get("/messages/{id}", s.handler(s.handleGetMessage))
	r.Delete("/messages/{id}", s.handler(s.handleCancelMessage))
	r.Post("/send/contact/batch", s.handler(s.handleSendContactBatch))
	r.Post("/assignments", s.handler(s.handleAssignments))
	r.Get("/batches/{id}", s.handler(s.handleGetBatch))
	r.Delete("/batches/{id}", s.handler(s.handleCancelBatch))
	r.Get("/devices", s.handler(s.handleListDevices))
	r.Post("/devices", s.handler(s.handleAddDevice))
	r.Get("/devices/{id}", s.handler(s.handleGetDevice))
	r.Delete("/devices/{id}", s.handler(s.handleRemoveDevice))
	r.Post("/devices/{id}/pause", s.handler(s.handlePauseDevice))
	r.Post("/devices/{id}/resume", s.handler(s.handleResumeDevice))

	r.Get("/devices/{id}/login", s.handler(s.handleLoginPage))
	r.Post("/devices/{id}/login/start", s.handler(s.handleLoginStart))
	r.Get("/devices/{id}/login/state", s.handler(s.handleLoginState))
	r.Get("/devices/{id}/login/qr.png", s.handler(s.handleLoginQR))
	r.Get("/openapi.json", s.handleOpenAPI)
	r.Get("/docs", s.handleDocs)

	if !s.SeparateOps {
		s.opsRoutes(r)
	}
	r.Mount(AdminRoot, s.adminHandler()) // the queue UI (admin.go); 404 unless Deps.Admin.UI
	return r
}

// opsRoutes are health and metrics: on the API's router, or alone on
// WACARD_OPS_ADDR (OpsHandler).
func (s *Server) opsRoutes(r chi.Router) {
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	r.Get("/metrics", s.handleMetrics(s.Metrics.Handler()))
}

// instrument counts requests and their latency by route pattern (never the
// raw path, which would hold message ids).
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		s.Metrics.HTTPRequests.WithLabelValues(route, r.Method, strconv.Itoa(ww.Status())).Inc()
		s.Metrics.HTTPDuration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

// recoverer turns a panic in a handler into the usual JSON 500 envelope (and a
// logged stack), never a bare text response.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, r, s.Log, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
