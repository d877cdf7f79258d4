package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mau.fi/whatsmeow"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/status"
	"github.com/wacard/wacard/internal/webhook"
	"github.com/wacard/wacard/producer"
	"github.com/wacard/wacard/worker"
	"github.com/wacard/wacard/worker/whatsapp"
)

type role int

const (
	roleAPI role = 1 << iota
	roleWorker
)

// serveHooks let tests learn the bound addresses and reach a fake WhatsApp.
type serveHooks struct {
	onListen   func(api, metrics string)
	clientHook func(*whatsmeow.Client)
}

// serve runs the API, the worker, or both until ctx ends, then shuts down in
// order: stop accepting HTTP, stop taking work and finish in-flight sends,
// disconnect WhatsApp, close the stores and Redis.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, roles role, hooks *serveHooks) error {
	if hooks == nil {
		hooks = &serveHooks{}
	}
	rdb, err := connectRedis(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()

	m := metrics.New(version)
	st := status.NewStore(rdb, cfg.RedisPrefix, cfg.StatusRetention)
	if len(cfg.WebhookEndpoints) > 0 {
		st = st.WithEvents() // every state change also writes the webhook outbox
	}
	reg := device.NewRegistry(rdb, cfg.RedisPrefix)
	for _, id := range cfg.SandboxDevices {
		if err := reg.Ensure(ctx, device.Device{ID: id, Kind: device.KindSandbox}); err != nil {
			return fmt.Errorf("register sandbox device %s: %w", id, err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8) // one slot per goRun, so a failing part never blocks
	goRun := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	var apiAddr, metricsAddr string
	if roles&roleAPI != 0 {
		watcher := device.NewWatcher(reg, log, 10*time.Second)
		if err := watcher.Load(ctx); err != nil {
			return err
		}
		goRun("device watcher", func() error { watcher.Run(ctx); return nil })
		acc := producer.NewAccepter(rdb, st, producer.AccepterConfig{
			Prefix:            cfg.RedisPrefix,
			IdempotencyWindow: cfg.IdempotencyWindow,
			StatusRetention:   cfg.StatusRetention,
		}, log)
		defer acc.Close()
		api := producer.NewServer(producer.Deps{
			Log: log, Redis: rdb, Accepter: acc, Status: st, Devices: watcher, Registry: reg,
			Metrics: m, PublicURL: cfg.PublicURL, MaxBody: cfg.MaxBodyBytes, Prefix: cfg.RedisPrefix,
			PacePerMinute: cfg.PacePerMinute, DailyCap: cfg.DailyCap, LogPhones: cfg.LogPhones == "full",
			Admin:   producer.AdminOptions{UI: cfg.AdminUI, Writable: !cfg.AdminReadOnly},
			APIKeys: cfg.APIKeys, SeparateOps: cfg.OpsAddr != "",
			MaxBatchItems: cfg.MaxBatchItems, MaxBatchBody: cfg.MaxBatchBytes,
		})
		if len(cfg.APIKeys) == 0 {
			log.Warn("WACARD_API_KEYS is empty: the API is open to anyone who can reach it")
		}
		if cfg.OpsAddr != "" {
			ln, err := listen(cfg.OpsAddr)
			if err != nil {
				return err
			}
			metricsAddr = ln.Addr().String()
			goRun("ops", func() error { return serveHTTP(ctx, ln, api.OpsHandler()) })
			log.Info("health and metrics listening", "addr", metricsAddr)
		}
		ln, err := listen(cfg.Addr)
		if err != nil {
			return err
		}
		apiAddr = ln.Addr().String()
		goRun("api", func() error { return serveHTTP(ctx, ln, api) })
		log.Info("API listening", "addr", apiAddr)
	}
	if roles&roleWorker != 0 {
		var wa *whatsapp.Store
		wa, err = whatsapp.OpenStore(ctx, cfg.DataDir, cfg.DatabaseURL, log)
		if err != nil {
			return fmt.Errorf("open WhatsApp device store: %w", err)
		}
		defer wa.Close()
		w := worker.New(worker.Config{
			ID: cfg.WorkerID, Prefix: cfg.RedisPrefix, Concurrency: cfg.WorkerConcurrency, MaxRetry: cfg.MaxRetry,
			SendTimeout: cfg.SendTimeout, OfflineGrace: cfg.OfflineGrace,
			SandboxFailSuffix: cfg.SandboxFailSuffix, SandboxFlakySuffix: cfg.SandboxFlakySuffix,
			SandboxTimelockSuffix: cfg.SandboxTimelockSuffix, TimelockPause: cfg.TimelockPause,
			SandboxDeliveredAfter: cfg.SandboxDeliveredAfter, SandboxReadAfter: cfg.SandboxReadAfter,
			SandboxLoginAfter: cfg.SandboxLoginAfter,
			LeaseTTL:          cfg.LeaseTTL, Capacity: cfg.WorkerCapacity, PacePerMinute: cfg.PacePerMinute, DailyCap: cfg.DailyCap,
		}, worker.Deps{Log: log, Redis: rdb, Status: st, Registry: reg, Metrics: m, WhatsApp: wa, ClientHook: hooks.clientHook})
		goRun("worker", func() error { return w.Run(ctx) })
		if len(cfg.WebhookEndpoints) > 0 {
			wh := webhook.New(webhook.Config{
				ID: cfg.WorkerID, Prefix: cfg.RedisPrefix, Endpoints: cfg.WebhookEndpoints,
				Secret: string(cfg.WebhookSecret), MaxRetry: cfg.WebhookMaxRetry, Timeout: cfg.WebhookTimeout,
			}, webhook.Deps{Log: log, Redis: rdb, Status: st, Metrics: m})
			goRun("webhooks", func() error { return wh.Run(ctx) })
		}
		if roles&roleAPI == 0 && cfg.MetricsAddr != "" {
			ln, err := listen(cfg.MetricsAddr)
			if err != nil {
				return err
			}
			metricsAddr = ln.Addr().String()
			goRun("metrics", func() error { return serveHTTP(ctx, ln, opsHandler(m, rdb)) })
			log.Info("worker metrics listening", "addr", metricsAddr)
		}
	}
	if hooks.onListen != nil {
		hooks.onListen(apiAddr, metricsAddr)
	}
	<-ctx.Done()
	wg.Wait()
	close(errc)
	return <-errc // nil when every part stopped cleanly
}

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// serveHTTP serves until ctx ends, then lets requests in flight finish.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// opsHandler serves a worker's /metrics, /healthz and /readyz.
func opsHandler(m *metrics.Metrics, rdb redis.UniversalClient) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "alive") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := rdb.Ping(r.Context()).Err(); err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
