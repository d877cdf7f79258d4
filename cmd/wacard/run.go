package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `wacard — asynchronous WhatsApp contact-card gateway

Usage:
  wacard serve                 API and worker in one process (the default setup)
  wacard api                   the HTTP API only
  wacard worker                a sending worker only
  wacard device add <id> [--sandbox]
  wacard device login <id> [--phone <number>]
  wacard device list
  wacard device logout <id>
  wacard device remove <id>
  wacard batch send <file> [--device <id>] [--wait] [--partial]
                               queue a CSV/NDJSON/JSON file of cards (docs/batches.md)
  wacard batch status <batch-id>
  wacard batch cancel <batch-id>
  wacard version

Configuration comes from WACARD_* environment variables (docs/configuration.md).
`

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// run is the whole program; main only adds signals and the exit code.
func run(ctx context.Context, args []string, getenv config.Getenv, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintln(stdout, "wacard", version)
		return nil
	case "batch": // talks to the API over HTTP: no configuration beyond WACARD_API_URL
		return batchCmd(ctx, getenv, rest, stdout, stderr)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, stderr)
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, roleAPI|roleWorker, nil)
	case "api":
		return serve(ctx, cfg, log, roleAPI, nil)
	case "worker":
		return serve(ctx, cfg, log, roleWorker, nil)
	case "device":
		return deviceCmd(ctx, cfg, log, rest, stdout)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// connectRedis opens the client and checks Redis answers, explaining plainly
// how to get one when it does not.
func connectRedis(ctx context.Context, url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("WACARD_REDIS_URL: %w", err)
	}
	opt.PoolSize = max(opt.PoolSize, 64)
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf(`cannot reach Redis at %s (%v).
wacard keeps its queues in Redis. To get one:
  Debian/Ubuntu:  sudo apt-get install redis-server   (then: redis-server --daemonize yes)
  macOS:          brew install redis && brew services start redis
  Docker:         docker run -d -p 6379:6379 redis:7
or point WACARD_REDIS_URL at your Redis`, redactURL(url), strings.TrimSpace(err.Error()))
	}
	return rdb, nil
}

// redactURL hides a password in a Redis URL for messages.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}
