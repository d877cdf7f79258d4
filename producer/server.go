// Package producer is wacard's HTTP side: it validates requests, queues
// messages through asynq and answers at once with the message ID the send
// will use. It never imports the worker.
package producer

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/phone"
	"github.com/wacard/wacard/internal/status"
)

// Devices is what the API needs of the device registry.
type Devices interface {
	Lookup(ref string) (device.Device, bool)
	Only() (device.Device, bool)
	All() []device.Device
}

// Deps are the Server's collaborators, all owned by the caller.
type Deps struct {
	Log       *slog.Logger
	Redis     redis.UniversalClient
	Accepter  *Accepter
	Status    *status.Store
	Devices   Devices
	Registry  *device.Registry
	Metrics   *metrics.Metrics
	PublicURL string // prefix of status URLs; "" = relative
	MaxBody   int64
	Prefix    string // Redis key prefix (names the device queues)
	// PacePerMinute and DailyCap are the workers' defaults, shown per device.
	PacePerMinute, DailyCap int
	LogPhones               bool  // log full phone numbers instead of masked ones
	MaxBatchItems           int   // items per batch request; default 10000
	MaxBatchBody            int64 // bytes per batch request; default 32 MiB
	// APIKeys are the keys the API accepts; none = open API.
	APIKeys []config.APIKey
	// SeparateOps leaves /healthz, /readyz and /metrics to OpsHandler, on
	// their own listener, instead of the API's router.
	SeparateOps bool

	Admin AdminOptions // the queue UI at /admin/queues (admin.go); off by default
}

// Server is the HTTP API.
type Server struct {
	Deps
	mux       http.Handler
	inspector *asynq.Inspector
	phones    *phoneCache
}

// NewServer returns the API handler.
func NewServer(d Deps) *Server {
	if d.MaxBody == 0 {
		d.MaxBody = 1 << 20
	}
	if d.MaxBatchItems == 0 {
		d.MaxBatchItems = 10000
	}
	if d.MaxBatchBody == 0 {
		d.MaxBatchBody = 32 << 20
	}
	s := &Server{Deps: d, inspector: asynq.NewInspectorFromRedisClient(d.Redis), phones: newPhoneCache(1 << 14)}
	s.mux = s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handler adapts a handler that returns an error to http.HandlerFunc, so
// every error is answered by writeError and nowhere else.
func (s *Server) handler(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			writeError(w, r, s.Log, err)
		}
	}
}

func (s *Server) ready(ctx context.Context) error { return s.Redis.Ping(ctx).Err() }

// maskPhone hides most of a phone number in logs unless configured otherwise.
func (s *Server) maskPhone(v string) string {
	if s.LogPhones {
		return v
	}
	return phone.Mask(v)
}
