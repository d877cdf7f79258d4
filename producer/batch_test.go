package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/redistest"
	"github.com/wacard/wacard/internal/status"
)

// batchHarness is the API on real Redis with one sandbox device "d" and no
// worker, so queued tasks stay in the queue to be inspected.
type batchHarness struct {
	*harness
	rdb  *redis.Client
	insp *asynq.Inspector
}

func newBatchHarness(t *testing.T, maxItems int) *batchHarness {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := device.NewRegistry(rdb, prefix)
	ctx := context.Background()
	if err := reg.Add(ctx, device.Device{ID: "d", Kind: device.KindSandbox}); err != nil {
		t.Fatal(err)
	}
	w := device.NewWatcher(reg, log, time.Minute)
	if err := w.Load(ctx); err != nil {
		t.Fatal(err)
	}
	st := status.NewStore(rdb, prefix, time.Hour)
	acc := NewAccepter(rdb, st, AccepterConfig{Prefix: prefix, IdempotencyWindow: time.Minute, StatusRetention: time.Hour}, log)
	t.Cleanup(acc.Close)
	s := NewServer(Deps{Log: log, Redis: rdb, Accepter: acc, Status: st, Devices: w, Registry: reg,
		Metrics: metrics.New("test"), MaxBody: 4096, MaxBatchItems: maxItems})
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &batchHarness{
		harness: &harness{t: t, srv: hs, reg: reg, status: st, prefix: prefix},
		rdb:     rdb,
		insp:    asynq.NewInspectorFromRedisClient(rdb),
	}
}

func (h *batchHarness) batch(contentType, body string, query ...string) reply {
	h.t.Helper()
	path := "/send/contact/batch"
	if len(query) > 0 {
		path += "?" + strings.Join(query, "&")
	}
	return h.do(http.MethodPost, path, contentType, body)
}

// accepted decodes a successful batch answer.
func (h *batchHarness) accepted(r reply) batchResults {
	h.t.Helper()
	if r.Status != 200 || r.Code != "SUCCESS" {
		h.t.Fatalf("batch not accepted: %d %s %s %s", r.Status, r.Code, r.Message, r.Results)
	}
	var res batchResults
	if err := json.Unmarshal(r.Results, &res); err != nil {
		h.t.Fatal(err)
	}
	return res
}

// fieldErrors decodes the error list of a VALIDATION_ERROR.
func fieldErrors(t *testing.T, r reply) []FieldError {
	t.Helper()
	if r.Status != 400 || r.Code != "VALIDATION_ERROR" {
		t.Fatalf("want 400 VALIDATION_ERROR, got %d %s %s", r.Status, r.Code, r.Message)
	}
	var res struct {
		Errors []FieldError `json:"errors"`
	}
	if err := json.Unmarshal(r.Results, &res); err != nil {
		t.Fatal(err)
	}
	return res.Errors
}

// queued returns the payloads waiting in device d's queue, by message id.
func (h *batchHarness) queued() map[string]job.Payload {
	h.t.Helper()
	out := map[string]job.Payload{}
	for page := 1; ; page++ {
		tasks, err := h.insp.ListPendingTasks(job.QueueName(h.prefix, "d"), asynq.PageSize(1000), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return out
		}
		if err != nil {
			h.t.Fatal(err)
		}
		for _, task := range tasks {
			p, err := job.Decode(task.Payload)
			if err != nil {
				h.t.Fatal(err)
			}
			out[task.ID] = p
		}
		if len(tasks) < 1000 {
			return out
		}
	}
}

// assertNothingQueued checks that no task and no status record was written.
func (h *batchHarness) assertNothingQueued() {
	h.t.Helper()
	if q := h.queued(); len(q) != 0 {
		h.t.Fatalf("%d tasks were queued", len(q))
	}
	keys, err := h.rdb.Keys(context.Background(), h.prefix+"msg:*").Result()
	if err != nil {
		h.t.Fatal(err)
	}
	if len(keys) != 0 {
		h.t.Fatalf("status records were written: %v", keys)
	}
}

// inOrder returns the queued payloads of an accepted batch in item order,
// without the fields every batch sets afresh.
func (h *batchHarness) inOrder(res batchResults) []job.Payload {
	h.t.Helper()
	q := h.queued()
	out := make([]job.Payload, 0, len(res.Items))
	for _, it := range res.Items {
		p, ok := q[it.MessageID]
		if !ok {
			h.t.Fatalf("item %d (%s) is not queued", it.Index, it.MessageID)
		}
		if p.BatchID != res.BatchID || p.DeviceID != "d" {
			h.t.Fatalf("item %d: batch %q device %q", it.Index, p.BatchID, p.DeviceID)
		}
		p.MessageID, p.BatchID, p.AcceptedAt = "", "", time.Time{}
		out = append(out, p)
	}
	return out
}

// The same items in the three formats. CSV has no defaults, so its rows
// spell out what JSON and NDJSON inherit.
const (
	itemsJSON = `{"defaults":{"contact_phone":"6281234567890","is_forwarded":true},"items":[
 {"phone":"6289685024992@s.whatsapp.net","contact_name":"John Doe"},
 {"phone":"+6289685024993","contact_name":"Chen, Michael","duration":86400,"is_forwarded":false},
 {"phone":"6289685024994","contact_name":"Émilie Roberts","contact_phone":"112","contact_organization":"Dental \"Care\"","contact_email":"emilie@example.com"}
]}`
	itemsNDJSON = `{"defaults":{"contact_phone":"6281234567890","is_forwarded":true}}
{"phone":"6289685024992@s.whatsapp.net","contact_name":"John Doe"}
{"phone":"+6289685024993","contact_name":"Chen, Michael","duration":86400,"is_forwarded":false}

{"phone":"6289685024994","contact_name":"Émilie Roberts","contact_phone":"112","contact_organization":"Dental \"Care\"","contact_email":"emilie@example.com"}
`
	itemsCSV = "phone,contact_name,contact_phone,is_forwarded,duration,contact_organization,contact_email\r\n" +
		"6289685024992@s.whatsapp.net,John Doe,6281234567890,true,,,\r\n" +
		"+6289685024993,\"Chen, Michael\",6281234567890,false,86400,,\r\n" +
		"6289685024994,Émilie Roberts,112,TRUE,,\"Dental \"\"Care\"\"\",emilie@example.com\r\n"
)

func TestBatchFormatsGiveTheSameMessages(t *testing.T) {
	t.Parallel()
	var want []job.Payload
	for _, f := range []struct{ name, ct, body string }{
		{"json", ctJSON, itemsJSON},
		{"ndjson", ctNDJSON, itemsNDJSON},
		{"csv", ctCSV, itemsCSV},
		{"csv with BOM", "text/csv; charset=utf-8", "\xef\xbb\xbf" + itemsCSV},
	} {
		h := newBatchHarness(t, 0)
		res := h.accepted(h.batch(f.ct, f.body))
		if res.Accepted != 3 || len(res.Items) != 3 || res.RejectedItems != 0 || len(res.Rejected) != 0 || !strings.HasPrefix(res.BatchID, "b_") {
			t.Fatalf("%s: %+v", f.name, res)
		}
		for i, it := range res.Items {
			if it.Index != i {
				t.Fatalf("%s: items %+v", f.name, res.Items)
			}
		}
		got := h.inOrder(res)
		if want == nil {
			want = got
			if got[1].Contacts[0].Name != "Chen, Michael" || got[2].Contacts[0].Phone != "112" || !got[0].IsForwarded || got[1].IsForwarded || got[1].Duration != 86400 {
				t.Fatalf("json: %+v", got)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s differs from json:\n got %+v\nwant %+v", f.name, got, want)
		}
	}
}

func TestBatchFormatsReportTheSameErrors(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 0)
	json := `{"items":[
 {"phone":"6289685024992","contact_name":"Ok","contact_phone":"6281234567890"},
 {"phone":"89685024992","contact_name":"","contact_phone":"6281234567890"},
 {"phone":"6289685024992","contact_name":"Ok","contact_phone":"+62 812","duration":"x"}
]}`
	ndjson := `{"phone":"6289685024992","contact_name":"Ok","contact_phone":"6281234567890"}
{"phone":"89685024992","contact_name":"","contact_phone":"6281234567890"}
{"phone":"6289685024992","contact_name":"Ok","contact_phone":"+62 812","duration":"x"}`
	csv := "phone,contact_name,contact_phone,duration\n" +
		"6289685024992,Ok,6281234567890,\n" +
		"89685024992,\" \",6281234567890,\n" +
		"6289685024992,Ok,+62 812,x\n"
	var want []FieldError
	for _, f := range []struct{ name, ct, body string }{{"json", ctJSON, json}, {"ndjson", ctNDJSON, ndjson}, {"csv", ctCSV, csv}} {
		errs := fieldErrors(t, h.batch(f.ct, f.body))
		var lines []int
		for i := range errs {
			lines = append(lines, errs[i].Line)
			errs[i].Line = 0
		}
		switch f.name {
		case "json":
			want = errs
			var got []string
			for _, e := range errs {
				got = append(got, fmt.Sprintf("%d:%s", *e.Index, e.Field))
			}
			if strings.Join(got, ",") != "1:phone,1:contact_name,2:contact_phone,2:duration" {
				t.Fatalf("json errors %v", got)
			}
			if lines[0] != 0 {
				t.Fatalf("json errors carry lines %v", lines)
			}
		case "ndjson":
			if fmt.Sprint(lines) != "[2 2 3 3]" {
				t.Fatalf("ndjson lines %v", lines)
			}
		case "csv": // the header is line 1
			if fmt.Sprint(lines) != "[3 3 4 4]" {
				t.Fatalf("csv lines %v", lines)
			}
		}
		if !reflect.DeepEqual(errs, want) {
			t.Fatalf("%s errors differ:\n got %v\nwant %v", f.name, errs, want)
		}
	}
	h.assertNothingQueued()
}

func TestBatchAllOrNothingAndPartial(t *testing.T) {
	t.Parallel()
	body := `{"items":[
 {"phone":"6289685024992","contact_name":"A","contact_phone":"6281234567890"},
 {"phone":"nope","contact_name":"B","contact_phone":"6281234567890"},
 {"phone":"6289685024993","contact_name":"C","contact_phone":"6281234567890"},
 "not an object"
]}`
	h := newBatchHarness(t, 0)
	r := h.batch(ctJSON, body)
	errs := fieldErrors(t, r)
	if len(errs) != 2 || *errs[0].Index != 1 || errs[0].Field != "phone" || *errs[1].Index != 3 || errs[1].Field != "item" {
		t.Fatalf("errors %+v", errs)
	}
	if !strings.HasPrefix(r.Message, "items[1]: phone: ") || !strings.Contains(r.Message, "1 more") {
		t.Fatalf("message %q", r.Message)
	}
	h.assertNothingQueued()

	res := h.accepted(h.batch(ctJSON, body, "partial=true"))
	if res.Accepted != 2 || res.RejectedItems != 2 || len(res.Rejected) != 2 || len(res.Items) != 2 || res.Items[0].Index != 0 || res.Items[1].Index != 2 {
		t.Fatalf("partial: %+v", res)
	}
	if got := h.inOrder(res); got[0].Contacts[0].Name != "A" || got[1].Contacts[0].Name != "C" {
		t.Fatalf("partial queued %+v", got)
	}

	// Partial with nothing valid accepts nothing.
	fieldErrors(t, h.batch(ctJSON, `{"items":[{"phone":"x"}]}`, "partial=true"))
	fieldErrors(t, h.batch(ctJSON, body, "partial=maybe"))
}

func TestBatchMalformedCSV(t *testing.T) {
	t.Parallel()
	const header = "phone,contact_name,contact_phone\n"
	const row = "6289685024992,Ann,6281234567890\n"
	tests := []struct {
		name, body string
		accepted   int    // > 0: accepted with this many items
		field      string // else: the first error's field
		line       int    // and line
		inMessage  string
	}{
		{"valid", header + row + row, 2, "", 0, ""},
		{"UTF-8 BOM", "\xef\xbb\xbf" + header + row, 1, "", 0, ""},
		{"quoted comma and newline", header + "6289685024992,\"Doe, John\nJr\",6281234567890\n", 1, "", 0, ""},
		{"header case and spaces", " Phone , CONTACT_NAME,contact_phone ,notes\n" + "6289685024992,Ann,6281234567890,vip\n", 1, "", 0, ""},
		{"no final newline", header + strings.TrimSuffix(row, "\n"), 1, "", 0, ""},
		{"ragged row", header + row + "6289685024992,Ann\n" + row, 0, "row", 3, "has 2 cells; the header has 3"},
		{"long row", header + row + row + "6289685024992,Ann,6281234567890,extra\n", 0, "row", 4, "has 4 cells"},
		{"missing required column", "phone,contact_name\n6289685024992,Ann\n", 0, "contact_phone", 1, "no contact_phone column"},
		{"duplicate column", "phone,contact_name,contact_phone,phone\n" + "1,2,3,4\n", 0, "phone", 1, "twice"},
		{"bare quote", header + "6289685024992,An\"n,6281234567890\n", 0, "body", 2, "valid CSV"},
		{"unterminated quote", header + "6289685024992,\"Ann,6281234567890\n", 0, "body", 2, "valid CSV"},
		{"header only", header, 0, "items", 0, "at least one"},
		{"empty", "", 0, "items", 0, "at least one"},
		{"invalid UTF-8", header + "6289685024992,\xff,6281234567890\n", 0, "contact_name", 2, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newBatchHarness(t, 0)
			r := h.batch(ctCSV, tt.body)
			if tt.accepted > 0 {
				if res := h.accepted(r); res.Accepted != tt.accepted || len(h.queued()) != tt.accepted {
					t.Fatalf("%+v", res)
				}
				return
			}
			errs := fieldErrors(t, r)
			if errs[0].Field != tt.field || errs[0].Line != tt.line || !strings.Contains(r.Message, tt.inMessage) {
				t.Fatalf("got %+v, message %q", errs, r.Message)
			}
			h.assertNothingQueued()
		})
	}
	h := newBatchHarness(t, 0)
	res := h.accepted(h.batch(ctCSV, " Phone , CONTACT_NAME,contact_phone ,notes\n"+"6289685024992,\"Doe, John\",6281234567890,vip\n"))
	if fmt.Sprint(res.IgnoredColumns) != "[notes]" || h.inOrder(res)[0].Contacts[0].Name != "Doe, John" {
		t.Fatalf("%+v", res)
	}
}

func TestBatchLimitsAndRequestErrors(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 2)
	item := `{"phone":"6289685024992","contact_name":"A","contact_phone":"6281234567890"}`
	for _, f := range []struct{ ct, body string }{
		{ctJSON, `{"items":[` + item + "," + item + "," + item + `]}`},
		{ctNDJSON, item + "\n" + item + "\n" + item},
		{ctCSV, "phone,contact_name,contact_phone\n1,a,1\n2,b,2\n3,c,3\n"},
	} {
		errs := fieldErrors(t, h.batch(f.ct, f.body))
		if len(errs) != 1 || errs[0].Field != "items" || errs[0].Rule != "must hold at most 2 items" {
			t.Fatalf("%s: %+v", f.ct, errs)
		}
	}
	tests := []struct {
		name, ct, body string
		status         int
		code, field    string
	}{
		{"wrong content type", "text/plain", item, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"items missing", ctJSON, `{"defaults":{}}`, 400, "VALIDATION_ERROR", "items"},
		{"items not an array", ctJSON, `{"items":{}}`, 400, "VALIDATION_ERROR", "items"},
		{"items empty", ctJSON, `{"items":[]}`, 400, "VALIDATION_ERROR", "items"},
		{"body not JSON", ctJSON, `{"items":[`, 400, "VALIDATION_ERROR", "body"},
		{"bad default", ctJSON, `{"defaults":{"contact_phone":"+1","duration":-1},"items":[` + item + `]}`, 400, "VALIDATION_ERROR", "defaults.contact_phone"},
		{"defaults not an object", ctJSON, `{"defaults":[],"items":[` + item + `]}`, 400, "VALIDATION_ERROR", "defaults"},
		{"ndjson bad default", ctNDJSON, `{"defaults":{"is_forwarded":"yes"}}` + "\n" + item, 400, "VALIDATION_ERROR", "defaults.is_forwarded"},
		{"ndjson not JSON", ctNDJSON, item + "\n{oops\n", 400, "VALIDATION_ERROR", "item"},
		{"ndjson blank", ctNDJSON, "\n\n", 400, "VALIDATION_ERROR", "items"},
	}
	for _, tt := range tests {
		r := h.batch(tt.ct, tt.body)
		if r.Status != tt.status || r.Code != tt.code {
			t.Fatalf("%s: %d %s %s", tt.name, r.Status, r.Code, r.Message)
		}
		if tt.field != "" {
			if errs := fieldErrors(t, r); errs[0].Field != tt.field {
				t.Fatalf("%s: %+v", tt.name, errs)
			}
		}
	}
	h.assertNothingQueued()
}

func TestBatchDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 0)
	res := h.accepted(h.batch(ctJSON, `{"defaults":{"contact_name":"Sales","contact_phone":"6281234567890","duration":604800},"items":[
 {"phone":"6289685024992"},
 {"phone":"6289685024993","contact_name":"Other","duration":null},
 {"phone":"6289685024994","contacts":[{"contact_name":"X","contact_phone":"112"},{"contact_name":"Y","contact_phone":"911"}]}
]}`))
	got := h.inOrder(res)
	if c := got[0].Contacts; len(c) != 1 || c[0].Name != "Sales" || got[0].Duration != 604800 {
		t.Fatalf("item 0: %+v", got[0])
	}
	if c := got[1].Contacts; c[0].Name != "Other" || c[0].Phone != "6281234567890" || got[1].Duration != 0 {
		t.Fatalf("item 1: %+v", got[1])
	}
	if c := got[2].Contacts; len(c) != 2 || c[1].Phone != "911" {
		t.Fatalf("item 2: %+v", got[2])
	}
}

func TestBatchIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 0)
	body := `{"items":[{"phone":"6289685024992","contact_name":"A","contact_phone":"6281234567890"},{"phone":"x"}]}`
	post := func(key string) reply {
		return h.do(http.MethodPost, "/send/contact/batch?partial=true", ctJSON, body, "Idempotency-Key", key)
	}
	first := h.accepted(post("import-7"))
	again := post("import-7")
	second := h.accepted(again)
	if first.BatchID != second.BatchID || !reflect.DeepEqual(first.Items, second.Items) || !reflect.DeepEqual(first.Rejected, second.Rejected) {
		t.Fatalf("repeat gave another batch:\n%+v\n%+v", first, second)
	}
	if !strings.Contains(string(again.Results), `"duplicate":true`) || !strings.Contains(again.Message, "Already accepted") {
		t.Fatalf("repeat not marked: %s %s", again.Message, again.Results)
	}
	other := h.accepted(post("import-8"))
	if other.BatchID == first.BatchID {
		t.Fatal("another key gave the same batch")
	}
	if n := len(h.queued()); n != 2 {
		t.Fatalf("%d tasks queued, want 2", n)
	}
}

// batchView decodes GET /batches/{id}.
func (h *batchHarness) batchView(path string) batchView {
	h.t.Helper()
	r := h.do(http.MethodGet, path, "", "")
	if r.Status != 200 {
		h.t.Fatalf("GET %s: %d %s", path, r.Status, r.Message)
	}
	var v batchView
	if err := json.Unmarshal(r.Results, &v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func TestBatchStatusAndPaging(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 0)
	var items []string
	for i := range 5 {
		items = append(items, fmt.Sprintf(`{"phone":"628968502499%d","contact_name":"N%d","contact_phone":"6281234567890"}`, i, i))
	}
	res := h.accepted(h.batch(ctJSON, `{"items":[`+strings.Join(items, ",")+`]}`))
	ctx := context.Background()
	move := func(id string, c status.Change) {
		if r, _, err := h.status.Move(ctx, id, c); err != nil || r != status.Moved {
			t.Fatalf("move %s to %s: %v %v", id, c.To, r, err)
		}
	}
	for k := range 3 {
		move(res.Items[k].MessageID, status.Change{To: status.Failed, Attempts: 1, LastError: fmt.Sprintf("boom %d", k), ErrorClass: "sandbox"})
	}
	move(res.Items[3].MessageID, status.Change{To: status.Sent})

	v := h.batchView(res.StatusURL + "?limit=2")
	if v.Total != 5 || v.Counts[status.Failed] != 3 || v.Counts[status.Sent] != 1 || v.Counts[status.Queued] != 1 || v.Counts[status.Read] != 0 {
		t.Fatalf("counts %+v", v)
	}
	if v.Progress != 0.8 || v.Done || v.Kind != "contact" || v.DeviceID != "d" {
		t.Fatalf("progress %+v", v)
	}
	if v.Failed.Total != 3 || len(v.Failed.Items) != 2 || v.Failed.Items[0].MessageID != res.Items[0].MessageID ||
		v.Failed.Items[1].LastError != "boom 1" || v.Failed.Items[1].ErrorClass != "sandbox" || v.Failed.Items[1].Recipient != "6289685024991@s.whatsapp.net" {
		t.Fatalf("failed page %+v", v.Failed)
	}
	if p := h.batchView(res.StatusURL + "?offset=2&limit=2").Failed; len(p.Items) != 1 || p.Items[0].LastError != "boom 2" || p.Offset != 2 {
		t.Fatalf("second page %+v", p)
	}
	if p := h.batchView(res.StatusURL).Failed; p.Limit != 100 || len(p.Items) != 3 {
		t.Fatalf("default page %+v", p)
	}
	move(res.Items[4].MessageID, status.Change{To: status.Sent})
	if v := h.batchView(res.StatusURL); !v.Done || v.Progress != 1 {
		t.Fatalf("not done: %+v", v)
	}

	for _, q := range []string{"?limit=0", "?limit=1001", "?offset=-1", "?limit=x"} {
		fieldErrors(t, h.do(http.MethodGet, res.StatusURL+q, "", ""))
	}
	for _, id := range []string{"b_0000000000000000", "nope", "b_ABCDEF0123456789"} {
		if r := h.do(http.MethodGet, "/batches/"+id, "", ""); r.Status != 404 || r.Code != "NOT_FOUND" {
			t.Fatalf("%s: %d %s", id, r.Status, r.Code)
		}
	}
}
