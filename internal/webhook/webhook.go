// Package webhook delivers wacard's status events to HTTP receivers, signed
// with HMAC-SHA256, at least once.
//
// The status store appends each event to a Redis outbox list atomically with
// the state change (status.Store.WithEvents). A dispatcher in every worker
// process moves events from the outbox into its own processing list, turns
// each into one asynq task per interested endpoint on the queue
// <prefix>webhooks (task ids derived from event and endpoint, so dispatching
// twice enqueues once), and only then removes it from the processing list.
// Processing lists of dispatchers that stop heartbeating are taken over by a
// live one. An asynq server on the webhooks queue, apart from the device
// queues, POSTs the tasks and retries failures with backoff, so slow or broken
// receivers never hold up sending. docs/webhooks.md is the receiver's guide.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/status"
)

// TaskType is the asynq task type of one delivery to one endpoint.
const TaskType = "wacard:webhook"

// QueueName is the asynq queue of webhook deliveries.
func QueueName(prefix string) string { return prefix + "webhooks" }

// Config tunes a Service. Zero values take the defaults in withDefaults.
type Config struct {
	ID        string // this dispatcher's name, unique per process (the worker id)
	Prefix    string // Redis key prefix
	Endpoints []Endpoint
	Secret    string        // HMAC key
	MaxRetry  int           // retries after the first attempt; then the task is archived
	Timeout   time.Duration // one HTTP attempt

	Concurrency      int           // deliveries in flight per process
	RetryBase        time.Duration // first retry delay (before jitter)
	RetryCap         time.Duration // longest retry delay
	Heartbeat        time.Duration // how often the dispatcher says it is alive
	StaleAfter       time.Duration // silence after which its processing list is taken over
	TaskRetention    time.Duration // how long a delivered task is kept to dedupe re-dispatches
	AttemptRetention time.Duration // how long attempt records are kept
	ShutdownTimeout  time.Duration // how long deliveries in flight may finish on stop
	PollInterval     time.Duration // asynq's poll of the webhooks queue
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	def(&c.Timeout, 10*time.Second)
	def(&c.RetryBase, 2*time.Second)
	def(&c.RetryCap, time.Hour)
	def(&c.Heartbeat, 5*time.Second)
	def(&c.StaleAfter, 30*time.Second)
	def(&c.TaskRetention, time.Hour)
	def(&c.AttemptRetention, 7*24*time.Hour)
	def(&c.ShutdownTimeout, 3*time.Second)
	def(&c.PollInterval, 250*time.Millisecond)
	return c
}

// Deps are the Service's collaborators, owned by the caller.
type Deps struct {
	Log     *slog.Logger
	Redis   redis.UniversalClient
	Status  *status.Store // reads records and batch counts; its EventsKey is the outbox
	Metrics *metrics.Metrics
	// HTTP sends the requests; nil means a client with Config.Timeout that
	// does not follow redirects.
	HTTP *http.Client
	Now  func() time.Time
}

// Service dispatches the outbox and delivers webhooks.
type Service struct {
	cfg     Config
	log     *slog.Logger
	rdb     redis.UniversalClient
	status  statusReader
	metrics *metrics.Metrics
	http    *http.Client
	now     func() time.Time
	queue   string
	byURL   map[string]Endpoint
	ownHTTP bool // s.http was made here; its idle connections close on stop
}

// New returns a Service; Run starts it.
func New(cfg Config, d Deps) *Service {
	cfg = cfg.withDefaults()
	s := &Service{
		cfg: cfg, log: d.Log, rdb: d.Redis, status: d.Status, metrics: d.Metrics,
		http: d.HTTP, now: d.Now, queue: QueueName(cfg.Prefix), byURL: map[string]Endpoint{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "webhooks")
	if s.now == nil {
		s.now = time.Now
	}
	if s.http == nil {
		s.ownHTTP = true
		s.http = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	for _, e := range cfg.Endpoints {
		s.byURL[e.URL] = e
	}
	return s
}

// Run delivers webhooks until ctx ends, then stops dispatching (finishing the
// event in hand), and gives deliveries in flight ShutdownTimeout to finish;
// unfinished ones go back to the queue.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.Secret == "" || len(s.cfg.Endpoints) == 0 {
		return errors.New("webhook: no endpoints or no secret")
	}
	srv := asynq.NewServerFromRedisClient(s.rdb, asynq.Config{
		Concurrency:              s.cfg.Concurrency,
		Queues:                   map[string]int{s.queue: 1},
		TaskCheckInterval:        s.cfg.PollInterval,
		DelayedTaskCheckInterval: 500 * time.Millisecond,
		RetryDelayFunc:           s.retryDelay,
		ShutdownTimeout:          s.cfg.ShutdownTimeout,
		Logger:                   asynqLogger{s.log},
		LogLevel:                 asynq.WarnLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(TaskType, s.deliver)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("webhook: start delivery server: %w", err)
	}
	enq := asynq.NewClientFromRedisClient(s.rdb)
	d := newDispatcher(s, enq)
	var wg sync.WaitGroup
	wg.Go(func() { d.run(ctx) })
	s.log.Info("webhooks on", "endpoints", len(s.cfg.Endpoints), "queue", s.queue)
	<-ctx.Done()
	wg.Wait()
	srv.Shutdown()
	_ = enq.Close() // shares the Redis client; closes nothing of it
	if s.ownHTTP {
		s.http.CloseIdleConnections()
	}
	return nil
}

// asynqLogger adapts slog to asynq's Logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
