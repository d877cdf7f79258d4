package producer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/job"
)

// AdminRoot is where the queue UI is mounted.
const AdminRoot = "/admin/queues"

// AdminOptions configure the queue UI. The zero value serves none.
type AdminOptions struct {
	UI       bool // serve the UI at AdminRoot (WACARD_ADMIN_UI=on)
	Writable bool // allow its writes (WACARD_ADMIN_READONLY=false); read-only otherwise
}

// adminHandler serves asynqmon, asynq's web UI, at AdminRoot: every device's
// queue with its pending, scheduled, retry and archived tasks. It answers 404
// unless Deps.Admin.UI is set.
//
// It is read-only unless Deps.Admin.Writable is set: asynqmon's writes (delete,
// run, archive tasks, pause queues) go straight to asynq and bypass wacard's
// status records, leases and device pauses, so a deleted task leaves its
// message "queued" forever. Payloads are shown redacted (see adminPayload).
func (s *Server) adminHandler() http.Handler {
	if !s.Admin.UI {
		return s.handler(func(w http.ResponseWriter, r *http.Request) error {
			return errNotFound("the queue UI is off; set WACARD_ADMIN_UI=on to serve it")
		})
	}
	return asynqmon.New(asynqmon.Options{
		RootPath:         AdminRoot,
		RedisConnOpt:     sharedRedis{s.Redis},
		ReadOnly:         !s.Admin.Writable,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(s.adminPayload),
	})
}

// sharedRedis hands asynqmon the API's own Redis client instead of options
// for a new one, so the UI uses the same pool, TLS and credentials and needs
// no closing of its own. asynqmon's Close would close it: it is never called.
type sharedRedis struct{ c redis.UniversalClient }

func (o sharedRedis) MakeRedisClient() any { return o.c }

// adminPayload is how the UI shows a task payload: the message's ids, kind
// and timing, the recipient masked like the logs (in full with
// WACARD_LOG_PHONES=full) and only the number of contacts and the length of
// a text, never their content.
func (s *Server) adminPayload(taskType string, b []byte) string {
	if taskType != job.TypeSend {
		return fmt.Sprintf("(%d bytes of %s payload, not shown)", len(b), taskType)
	}
	p, err := job.Decode(b)
	if err != nil {
		return fmt.Sprintf("(%d bytes, not a valid %s payload: not shown)", len(b), job.TypeSend)
	}
	v := struct {
		MessageID  string    `json:"message_id"`
		DeviceID   string    `json:"device_id"`
		BatchID    string    `json:"batch_id,omitempty"`
		Kind       job.Kind  `json:"kind"`
		To         string    `json:"to"`
		Contacts   int       `json:"contacts,omitempty"`
		TextLength int       `json:"text_length,omitempty"`
		AcceptedAt time.Time `json:"accepted_at"`
	}{p.MessageID, p.DeviceID, p.BatchID, p.Kind, s.maskPhone(p.To), len(p.Contacts), len([]rune(p.Text)), p.AcceptedAt}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "(not shown)"
	}
	return string(out)
}
