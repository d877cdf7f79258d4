package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wacard/wacard/internal/status"
)

func TestCancelBatch(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 0)
	var items []string
	for i := range 6 {
		items = append(items, fmt.Sprintf(`{"phone":"628968502499%d","contact_name":"N%d","contact_phone":"6281234567890"}`, i, i))
	}
	res := h.accepted(h.batch(ctJSON, `{"items":[`+strings.Join(items, ",")+`]}`))
	ctx := context.Background()
	// One sent, one being sent: neither can be cancelled.
	for _, c := range []status.Change{{To: status.Sending}, {To: status.Sent}} {
		if _, _, err := h.status.Move(ctx, res.Items[0].MessageID, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := h.status.Move(ctx, res.Items[1].MessageID, status.Change{To: status.Sending}); err != nil {
		t.Fatal(err)
	}

	r := h.do(http.MethodDelete, res.StatusURL, "", "")
	var c batchCancel
	if err := json.Unmarshal(r.Results, &c); err != nil || r.Status != 200 {
		t.Fatalf("%d %s %v", r.Status, r.Message, err)
	}
	if c.Total != 6 || c.Cancelled != 4 || c.AlreadyFinal != 1 || c.InFlight != 1 {
		t.Fatalf("%+v", c)
	}
	q := h.queued()
	for k, it := range res.Items {
		rec, err := h.status.Get(ctx, it.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		_, stillQueued := q[it.MessageID]
		switch {
		case k >= 2 && (rec.State != status.Cancelled || rec.SentAt != nil || stillQueued || rec.History[len(rec.History)-1].Note != "batch cancelled"):
			t.Fatalf("item %d: %s, still queued %v, %+v", k, rec.State, stillQueued, rec.History)
		case k < 2 && rec.State == status.Cancelled:
			t.Fatalf("item %d was cancelled from %s", k, rec.State)
		}
	}
	if v := h.batchView(res.StatusURL); v.Counts[status.Cancelled] != 4 || v.Counts[status.Queued] != 0 {
		t.Fatalf("counts %+v", v.Counts)
	}
	r = h.do(http.MethodDelete, res.StatusURL, "", "")
	_ = json.Unmarshal(r.Results, &c)
	if c.Cancelled != 0 || c.AlreadyFinal != 5 || c.InFlight != 1 {
		t.Fatalf("second cancel %+v", c)
	}
	if r := h.do(http.MethodDelete, "/batches/b_0000000000000000", "", ""); r.Status != 404 {
		t.Fatalf("unknown batch: %d", r.Status)
	}
	if got := h.metric(`wacard_messages_cancelled_total{device="d"}`); got != "4" {
		t.Fatalf("cancelled metric %q", got)
	}
}

func TestCancelMessage(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 0)
	id := func(r reply) string {
		var res sendResults
		_ = json.Unmarshal(r.Results, &res)
		return res.MessageID
	}
	a, b := id(h.sendContact(good)), id(h.sendContact(good))
	r := h.do(http.MethodDelete, "/messages/"+a, "", "")
	if r.Status != 200 || !strings.Contains(string(r.Results), `"state":"cancelled"`) {
		t.Fatalf("cancel: %d %s", r.Status, r.Results)
	}
	if _, ok := h.queued()[a]; ok {
		t.Fatal("the cancelled message's task is still queued")
	}
	if r := h.do(http.MethodDelete, "/messages/"+a, "", ""); r.Status != 200 || !strings.Contains(r.Message+string(r.Results), "already cancelled") {
		t.Fatalf("cancel again: %d %s", r.Status, r.Results)
	}
	ctx := context.Background()
	for _, to := range []status.State{status.Sending, status.Sent} {
		if _, _, err := h.status.Move(ctx, b, status.Change{To: to}); err != nil {
			t.Fatal(err)
		}
		r := h.do(http.MethodDelete, "/messages/"+b, "", "")
		if r.Status != 409 || r.Code != "NOT_CANCELLABLE" || !strings.Contains(string(r.Results), `"state":"`+string(to)+`"`) {
			t.Fatalf("%s: %d %s %s", to, r.Status, r.Code, r.Results)
		}
	}
	for _, bad := range []string{"3EB0000000000000000000", "nope"} {
		if r := h.do(http.MethodDelete, "/messages/"+bad, "", ""); r.Status != 404 {
			t.Fatalf("%s: %d", bad, r.Status)
		}
	}
	if got := h.metric(`wacard_messages_cancelled_total{device="d"}`); got != "1" {
		t.Fatalf("cancelled metric %q", got)
	}
}

// metric returns the value of one sample line of /metrics.
func (h *batchHarness) metric(sample string) string {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}
