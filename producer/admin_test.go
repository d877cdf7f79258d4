package producer

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/redistest"
)

// adminStack is an API with the queue UI and one queued message on real Redis.
type adminStack struct {
	url, queue, taskID string
}

const adminTestPhone = "6289685024992"

func newAdminStack(t *testing.T, opts AdminOptions) adminStack {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := NewServer(Deps{Log: log, Redis: rdb, Metrics: metrics.New("test"), Prefix: prefix, Admin: opts})
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)

	p := job.Payload{
		MessageID: "3EB0ADMINTEST", DeviceID: "d1", Kind: job.KindContact,
		To:         adminTestPhone + "@s.whatsapp.net",
		Contacts:   []job.Contact{{Name: "Secret Name", Phone: "6281234567890"}},
		AcceptedAt: time.Now(),
	}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c := asynq.NewClientFromRedisClient(rdb)
	queue := job.QueueName(prefix, "d1")
	info, err := c.Enqueue(asynq.NewTask(job.TypeSend, b), asynq.Queue(queue), asynq.TaskID(p.MessageID))
	if err != nil {
		t.Fatal(err)
	}
	return adminStack{url: hs.URL, queue: queue, taskID: info.ID}
}

func adminDo(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAdminQueuesUI(t *testing.T) {
	t.Parallel()
	a := newAdminStack(t, AdminOptions{UI: true})

	for _, path := range []string{"/admin/queues", "/admin/queues/", "/admin/queues/queues/" + a.queue} {
		code, h, body := adminDo(t, http.MethodGet, a.url+path)
		if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, code, h.Get("Content-Type"))
		}
		// asynqmon's single-page app, told where it lives and that it is read-only.
		for _, want := range []string{"<title>Asynq - Monitoring</title>", `ROOT_PATH="\/admin\/queues"`, `READ_ONLY="true"`} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: page lacks %s", path, want)
			}
		}
	}

	// The UI's API sees the device's queue and its task, payload redacted.
	code, _, body := adminDo(t, http.MethodGet, a.url+"/admin/queues/api/queues/"+a.queue+"/pending_tasks")
	if code != http.StatusOK {
		t.Fatalf("pending tasks: %d %s", code, body)
	}
	var tasks struct {
		Tasks []struct {
			ID      string `json:"id"`
			Payload string `json:"payload"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(body), &tasks); err != nil || len(tasks.Tasks) != 1 {
		t.Fatalf("pending tasks: %v %s", err, body)
	}
	if got := tasks.Tasks[0]; got.ID != a.taskID || !strings.Contains(got.Payload, `"message_id": "3EB0ADMINTEST"`) ||
		!strings.Contains(got.Payload, `"contacts": 1`) {
		t.Errorf("task %+v", got)
	}
	for _, secret := range []string{adminTestPhone, "Secret Name", "6281234567890"} {
		if strings.Contains(body, secret) {
			t.Errorf("the UI shows %q: %s", secret, body)
		}
	}

	// Read-only: asynqmon refuses writes, and the task stays.
	code, _, body = adminDo(t, http.MethodDelete, a.url+"/admin/queues/api/queues/"+a.queue+"/pending_tasks:delete_all")
	if code != http.StatusMethodNotAllowed {
		t.Errorf("delete all in read-only mode: %d %s", code, body)
	}
	if code, _, _ := adminDo(t, http.MethodGet, a.url+"/admin/queues/api/queues/"+a.queue+"/pending_tasks/"+a.taskID); code == http.StatusNotFound {
		t.Error("the task is gone after a refused delete")
	}
}

func TestAdminQueuesWritable(t *testing.T) {
	t.Parallel()
	a := newAdminStack(t, AdminOptions{UI: true, Writable: true})
	code, _, body := adminDo(t, http.MethodGet, a.url+"/admin/queues/")
	if code != http.StatusOK || !strings.Contains(body, `READ_ONLY="false"`) {
		t.Fatalf("GET /admin/queues/: %d", code)
	}
	code, _, body = adminDo(t, http.MethodDelete, a.url+"/admin/queues/api/queues/"+a.queue+"/pending_tasks:delete_all")
	if code != http.StatusOK {
		t.Fatalf("delete all: %d %s", code, body)
	}
}

func TestAdminQueuesOffByDefault(t *testing.T) {
	t.Parallel()
	a := newAdminStack(t, AdminOptions{})
	for _, path := range []string{"/admin/queues", "/admin/queues/", "/admin/queues/api/queues"} {
		code, h, body := adminDo(t, http.MethodGet, a.url+path)
		if code != http.StatusNotFound || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s with the UI off: %d %s %s", path, code, h.Get("Content-Type"), body)
		}
	}
}
