// Command wacardbench measures wacard against the physical limits of its
// machine and checks that it loses nothing when its processes or Redis fail.
//
//	wacardbench bench            the benchmark table (docs/benchmarks.md)
//	wacardbench faults [-short]  the fault suite (docs/reliability.md)
//	wacardbench fuzz [-fuzztime 20s]
//	                             every fuzz target for a fixed budget, with a summary
//
// bench and faults build the wacard binary once and run it as separate
// processes against real Redis (WACARD_BENCH_REDIS_URL, default
// redis://127.0.0.1:6379/0), each run on a key prefix of its own that is
// deleted afterwards. Scenarios that need a Redis of their own start a
// private redis-server on a free loopback port; the shared one is never
// restarted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wacardbench:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `wacardbench — benchmarks and fault injection for wacard

Usage:
  wacardbench bench [-only P1,...] [-keep]
                                      measure P1-P4 and print one table
  wacardbench faults [-short] [-only name,...] [-keep]
                                      kill -9, Redis restart, SIGSTOP fencing, webhook outage
  wacardbench fuzz [-fuzztime 20s]    run every fuzz target, print the executions reached

Environment:
  WACARD_BENCH_REDIS_URL   the Redis to use (default redis://127.0.0.1:6379/0)
  WACARD_BENCH_REDIS_SERVER  redis-server binary for private instances (default: from PATH)
`

var errUsage = errors.New("usage")

// run is the whole program; main adds signals and the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	env := benchEnv{
		redisURL:    or(getenv("WACARD_BENCH_REDIS_URL"), "redis://127.0.0.1:6379/0"),
		redisServer: or(getenv("WACARD_BENCH_REDIS_SERVER"), "redis-server"),
		out:         stdout,
		log:         stderr,
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep", false, "keep the temporary directory (process logs) after the run")
	switch args[0] {
	case "bench":
		only := fs.String("only", "", "comma-separated parts to run: P1,P2,P3,P4")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		env.keep = *keep
		return benchCmd(ctx, env, *only)
	case "faults":
		short := fs.Bool("short", false, "smaller counts and WACARD_LEASE_TTL=3s (for CI)")
		only := fs.String("only", "", "comma-separated scenarios to run: kill9,redis,fence,webhook")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		env.keep = *keep
		return faultsCmd(ctx, env, *short, *only)
	case "fuzz":
		fuzztime := fs.String("fuzztime", "20s", "budget of each fuzz target (go test -fuzztime)")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return fuzzCmd(ctx, env, *fuzztime)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// benchEnv is what every command shares: where Redis is, and where to write.
type benchEnv struct {
	redisURL    string
	redisServer string
	keep        bool
	out, log    io.Writer
}

// logf reports progress on stderr, so stdout holds only the results.
func (e benchEnv) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "· "+format+"\n", args...)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// quietRedis drops go-redis's own log lines: the fault scenarios make Redis
// unreachable on purpose, and their reports say what happened.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
