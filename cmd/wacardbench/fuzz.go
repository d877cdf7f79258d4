package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// fuzzResult is one fuzz target's run.
type fuzzResult struct {
	pkg, target string
	execs       string // the last "execs: N" go test printed
	took        time.Duration
	err         error
}

var execsRe = regexp.MustCompile(`execs: (\d+)`)

// fuzzCmd runs every fuzz target of the module for fuzztime each, one after
// the other, and prints how many executions each reached. It fails if any
// target finds a crash (go test then writes the input to testdata/fuzz).
func fuzzCmd(ctx context.Context, env benchEnv, fuzztime string) error {
	pkgs, err := goLines(ctx, "list", "github.com/wacard/wacard/...")
	if err != nil {
		return err
	}
	var results []fuzzResult
	for _, pkg := range pkgs {
		targets, err := goLines(ctx, "test", "-list", "^Fuzz", pkg)
		if err != nil {
			return err
		}
		for _, t := range targets {
			if !strings.HasPrefix(t, "Fuzz") {
				continue // "ok  pkg" and the like
			}
			env.logf("fuzzing %s %s for %s", pkg, t, fuzztime)
			results = append(results, fuzzOne(ctx, env, pkg, t, fuzztime))
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	fmt.Fprintf(env.out, "\n| Package | Target | Executions in %s | Result |\n| --- | --- | ---: | --- |\n", fuzztime)
	failed := 0
	for _, r := range results {
		res := "no crash"
		if r.err != nil {
			res = "FAILED: " + r.err.Error()
			failed++
		}
		fmt.Fprintf(env.out, "| %s | %s | %s | %s |\n", strings.TrimPrefix(r.pkg, "github.com/wacard/wacard/"), r.target, r.execs, res)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d fuzz targets failed; the crashing inputs are in the packages' testdata/fuzz", failed, len(results))
	}
	return nil
}

// fuzzOne runs one target, copying go test's output to the log stream and
// keeping the last execution count it reports.
func fuzzOne(ctx context.Context, env benchEnv, pkg, target, fuzztime string) fuzzResult {
	r := fuzzResult{pkg: pkg, target: target, execs: "?"}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "test", "-run=^$", "-fuzz=^"+target+"$", "-fuzztime="+fuzztime, pkg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.err = err
		return r
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		r.err = err
		return r
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var tail []string
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(env.log, "  "+line)
		if m := execsRe.FindStringSubmatch(line); m != nil {
			r.execs = groupDigitsString(m[1])
		}
		tail = append(tail, line)
		if len(tail) > 5 {
			tail = tail[1:]
		}
	}
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		r.err = fmt.Errorf("%v (%s)", err, strings.Join(tail, " / "))
	}
	r.took = time.Since(start)
	return r
}

// goLines runs the go command and returns its non-empty output lines.
func goLines(ctx context.Context, args ...string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "go", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

func groupDigitsString(s string) string {
	var n int64
	_, _ = fmt.Sscan(s, &n)
	return groupDigits(n)
}
