package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// row is one line of the results table: a measured figure beside its
// reference from the same run, and the goal it is held to.
type row struct {
	id        string // P1..P4
	measure   string
	value     string
	reference string
	ratio     string
	goal      string
	verdict   string // "pass", "FAIL" or "" (no goal)
}

// printTable writes rows as a Markdown table with aligned columns, so it
// reads in a terminal and pastes into docs/benchmarks.md as is.
func printTable(w io.Writer, rows []row) {
	head := []string{"#", "Measure", "wacard", "Reference (same run)", "Ratio", "Goal", "Result"}
	cells := [][]string{head}
	for _, r := range rows {
		v := r.verdict
		if v == "" {
			v = "—"
		}
		cells = append(cells, []string{r.id, r.measure, r.value, r.reference, or(r.ratio, "—"), or(r.goal, "—"), v})
	}
	width := make([]int, len(head))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			b.WriteString(" " + s + strings.Repeat(" ", width[i]-len([]rune(s))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
}

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

// machine describes where the figures were measured.
func machine(ctx context.Context, rdb *redis.Client) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s, Redis %s; load average at start %s; %s",
		runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version(),
		infoField(ctx, rdb, "server", "redis_version"), load, time.Now().UTC().Format("2006-01-02 15:04 MST"))
}

// infoField reads one field of a section of Redis's INFO.
func infoField(ctx context.Context, rdb *redis.Client, section, field string) string {
	s, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == field {
			return v
		}
	}
	return "?"
}

// commandsProcessed is Redis's total_commands_processed (commands run by Lua
// scripts included).
func commandsProcessed(ctx context.Context, rdb *redis.Client) (int64, error) {
	return strconv.ParseInt(infoField(ctx, rdb, "stats", "total_commands_processed"), 10, 64)
}

// commandStats returns the calls of every command so far (INFO commandstats).
func commandStats(ctx context.Context, rdb *redis.Client) map[string]int64 {
	out := map[string]int64{}
	s, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return out
	}
	for _, l := range strings.Split(s, "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.HasPrefix(k, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		out[strings.TrimPrefix(k, "cmdstat_")] = n
	}
	return out
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func perSec(x float64) string { return groupDigits(int64(x+0.5)) + "/s" }

// groupDigits writes n with thousands separators: 12,345.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 0, 64) + " %" }

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + " MiB" }
