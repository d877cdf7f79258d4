package producer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/redistest"
)

// BenchmarkAcceptContact is the whole accept path of POST /send/contact in
// process (decode, validate, status record, enqueue, wake), without the
// network; BenchmarkRawEnqueue is asynq's Enqueue alone on the same Redis, the
// reference it is measured against.
func BenchmarkAcceptContact(b *testing.B) {
	h := newBenchHarness(b)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/send/contact", strings.NewReader(benchBody(n.Add(1))))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

func BenchmarkRawEnqueue(b *testing.B) {
	rdb := redistest.Client(b)
	prefix := redistest.Prefix(b, rdb)
	c := asynq.NewClientFromRedisClient(rdb)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			t := asynq.NewTask("wacard:send", []byte(`{"message_id":"x"}`), asynq.TaskID(fmt.Sprintf("t%d", i)), asynq.Queue(prefix+"dev:raw"))
			if _, err := c.EnqueueContext(context.Background(), t); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchBody is the i-th benchmark request: a different recipient each time
// (up to a million), as in a bulk send.
func benchBody(i int64) string {
	return fmt.Sprintf(`{"phone":"62812%08d","contact_name":"Lead %d","contact_phone":"6281234567890"}`, 30000000+i%1000000, i)
}

func newBenchHarness(b *testing.B) http.Handler {
	b.Helper()
	rdb := redistest.Client(b)
	return newTestServer(b, rdb, redistest.Prefix(b, rdb), device.Device{ID: "d", Kind: device.KindSandbox})
}

// BenchmarkAcceptContactHTTP is BenchmarkAcceptContact over real loopback
// HTTP connections (keep-alive), as clients call it.
func BenchmarkAcceptContactHTTP(b *testing.B) {
	srv := httptest.NewServer(newBenchHarness(b))
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/send/contact", strings.NewReader(benchBody(n.Add(1))))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("HTTP %d", resp.StatusCode)
			}
		}
	})
}
