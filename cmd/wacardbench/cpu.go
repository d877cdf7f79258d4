package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSample is the CPU time used so far by the API process, Redis and this
// process (the load generator). On a CPU-bound machine the CPU each request
// costs, summed over every process it crosses, bounds the rate.
type cpuSample struct{ api, redis, client time.Duration }

// sampleCPU reads the three counters. Redis's covers everything it serves,
// so other users of a shared Redis show up in it.
func sampleCPU(ctx context.Context, d *deployment) cpuSample {
	var s cpuSample
	if d.apiProc != nil {
		s.api = procCPU(d.apiProc.pid())
	}
	for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, _ := strconv.ParseFloat(infoField(ctx, d.rdb, "cpu", f), 64)
		s.redis += time.Duration(v * float64(time.Second))
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

func (s cpuSample) sub(o cpuSample) cpuSample {
	return cpuSample{api: s.api - o.api, redis: s.redis - o.redis, client: s.client - o.client}
}

// procCPU is a process's user and system time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:]) // from field 3 (state) on
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	const tick = 10 * time.Millisecond          // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick
}

// cpuCost is the CPU time n requests took.
type cpuCost struct {
	cpu cpuSample
	n   int
}

// least returns whichever of c and o cost less per request (o if c is empty).
func (c cpuCost) least(o cpuCost) cpuCost {
	if c.n == 0 || o.total() < c.total() {
		return o
	}
	return c
}

func (c cpuCost) per(d time.Duration) float64 {
	if c.n == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(c.n)
}

// total is the CPU microseconds per request, all processes together.
func (c cpuCost) total() float64 { return c.per(c.cpu.api + c.cpu.redis + c.cpu.client) }

func (c cpuCost) String() string {
	if c.cpu.api == 0 {
		return fmt.Sprintf("%.0f + %.0f = %.0f", c.per(c.cpu.redis), c.per(c.cpu.client), c.total())
	}
	return fmt.Sprintf("%.0f + %.0f + %.0f = %.0f", c.per(c.cpu.api), c.per(c.cpu.redis), c.per(c.cpu.client), c.total())
}
