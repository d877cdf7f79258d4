package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func (s *stack) delete(path string) (int, envelope) {
	req, _ := http.NewRequest(http.MethodDelete, s.url+path, nil)
	return s.do(req)
}

// batchState polls GET /batches/{id} until the batch is done.
func (s *stack) awaitBatch(id string, within time.Duration) map[string]int {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, e := s.get("/batches/" + id)
		var v struct {
			Done   bool           `json:"done"`
			Counts map[string]int `json:"counts"`
		}
		_ = json.Unmarshal(e.Results, &v)
		if code == 200 && v.Done {
			return v.Counts
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("batch %s not done after %s: %d %v", id, within, code, v.Counts)
		}
		time.Sleep(20 * time.Millisecond) // polling interval of a deadline poll, not a wait for work
	}
}

// timedRecord is a status record with the times the ordering checks need.
type timedRecord struct {
	State   string     `json:"state"`
	SentAt  *time.Time `json:"sent_at"`
	History []struct {
		State string    `json:"state"`
		At    time.Time `json:"at"`
	} `json:"history"`
}

func (s *stack) record(id string) timedRecord {
	s.t.Helper()
	code, e := s.get("/messages/" + id)
	var r timedRecord
	if err := json.Unmarshal(e.Results, &r); err != nil || code != 200 {
		s.t.Fatalf("GET /messages/%s: %d %v", id, code, err)
	}
	return r
}

func (r timedRecord) at(state string) time.Time {
	for _, h := range r.History {
		if h.State == state {
			return h.At
		}
	}
	return time.Time{}
}

// runBatch runs `wacard batch ...` in-process against the stack.
func (s *stack) runBatch(args ...string) (string, error) {
	return s.runBatchEnv(nil, args...)
}

func (s *stack) runBatchEnv(extra map[string]string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	env := map[string]string{"WACARD_API_URL": s.url}
	for k, v := range extra {
		env[k] = v
	}
	err := run(context.Background(), append([]string{"batch"}, args...), func(k string) string { return env[k] }, nil, &out, &errOut)
	return out.String(), err
}

func TestBatchSendWaitExitCode(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	dir := t.TempDir()
	good := filepath.Join(dir, "leads.csv")
	if err := os.WriteFile(good, []byte("phone,contact_name,contact_phone\n"+
		"6289685024991,\"Chen, Michael - Sales\",6281234567890\n"+
		"6289685024992,Ann - Sales,6281234567890\n"+
		"6281234569999,Flaky Lead,6281234567890\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := s.runBatch("send", good, "--device", "my-device", "--wait", "--poll", "20ms")
	if err != nil {
		t.Fatalf("all sent, yet: %v\n%s", err, out)
	}
	if !strings.Contains(out, "3 messages queued on device my-device") || !strings.Contains(out, "sent       3") || strings.Contains(out, "failed") {
		t.Fatalf("summary:\n%s", out)
	}

	bad := filepath.Join(dir, "leads.ndjson")
	if err := os.WriteFile(bad, []byte(`{"defaults":{"contact_phone":"6281234567890"}}
{"phone":"6289685024993","contact_name":"Fine"}
{"phone":"6281234560000","contact_name":"Doomed"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = s.runBatch("send", bad, "--wait", "--poll", "20ms", "--device", "my-device")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "1 of 2 messages") {
		t.Fatalf("a failed message must fail the command: %v\n%s", err, out)
	}
	if !strings.Contains(out, "failed     1") || !strings.Contains(out, "6281234560000@s.whatsapp.net: sandbox: recipients ending in 0000 always fail [sandbox]") {
		t.Fatalf("summary lacks the failure and its reason:\n%s", out)
	}
	id := strings.Fields(out)[1] // "batch b_… : …"
	id = strings.TrimSuffix(id, ":")
	if out, err := s.runBatch("status", id); err != nil || !strings.Contains(out, "done (100%)") || !strings.Contains(out, "always fail") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if out, err := s.runBatch("cancel", id); err != nil || !strings.Contains(out, "0 cancelled, 2 already finished") {
		t.Fatalf("cancel: %v\n%s", err, out)
	}

	// Mistakes: an invalid file is rejected with every line at fault, and
	// usage errors exit 2.
	invalid := filepath.Join(dir, "bad.csv")
	_ = os.WriteFile(invalid, []byte("phone,contact_name\n123,x\n"), 0o600)
	if _, err := s.runBatch("send", invalid); err == nil || !strings.Contains(err.Error(), "no contact_phone column") {
		t.Fatalf("invalid file: %v", err)
	}
	for _, args := range [][]string{{}, {"send"}, {"send", "leads.txt"}, {"frobnicate", "x"}, {"status", "a", "b"}} {
		if _, err := s.runBatch(args...); exitCode(err) != 2 {
			t.Fatalf("%v: want a usage error, got %v", args, err)
		}
	}
}

func TestBatchCancelRightAfterAccept(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	var items []string
	for i := range 300 {
		items = append(items, fmt.Sprintf(`{"phone":"62896850%05d"}`, 10001+i))
	}
	code, e := s.post("/send/contact/batch", `{"defaults":{"contact_name":"Rep","contact_phone":"6281234567890"},"items":[`+strings.Join(items, ",")+`]}`, "X-Device-Id", "my-device")
	if code != 200 {
		t.Fatalf("batch: %d %s %s", code, e.Message, e.Results)
	}
	var res struct {
		BatchID string `json:"batch_id"`
		Items   []struct {
			MessageID string `json:"message_id"`
		} `json:"items"`
	}
	_ = json.Unmarshal(e.Results, &res)
	code, e = s.delete("/batches/" + res.BatchID)
	var c struct{ Cancelled, AlreadyFinal, InFlight int }
	if err := json.Unmarshal(e.Results, &c); err != nil || code != 200 {
		t.Fatalf("cancel: %d %s", code, e.Message)
	}
	counts := s.awaitBatch(res.BatchID, 30*time.Second)
	if counts["cancelled"] != c.Cancelled || counts["sent"]+counts["cancelled"] != 300 {
		t.Fatalf("cancel said %+v, batch ended %v", c, counts)
	}
	for _, it := range res.Items {
		r := s.record(it.MessageID)
		switch {
		case r.State == "cancelled" && (r.SentAt != nil || !r.at("sending").IsZero()):
			t.Fatalf("%s was cancelled but sent: %+v", it.MessageID, r)
		case r.State != "cancelled" && r.State != "sent":
			t.Fatalf("%s ended %s", it.MessageID, r.State)
		}
	}
	t.Logf("of 300: %d cancelled, %d sent", counts["cancelled"], counts["sent"])
}

func TestAssignmentIntroArrivesBeforeCard(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	var leads []string
	for i := range 12 {
		leads = append(leads, fmt.Sprintf(`{"phone":"62896850%05d","name":"Lead %d"}`, 20001+i, i))
	}
	code, e := s.post("/assignments", `{"strategy":"weighted",
  "reps":[{"name":"Ann","phone":"6281234567890","weight":3},{"name":"Raj","phone":"6289876543210","weight":1}],
  "leads":[`+strings.Join(leads, ",")+`],
  "contact_name":"{{rep_name}} - Your Sales Rep",
  "intro":"Hi {{lead_name}}, {{rep_name}} will be your contact. Their card follows."}`, "X-Device-Id", "my-device")
	if code != 200 {
		t.Fatalf("assignments: %d %s %s", code, e.Message, e.Results)
	}
	var res struct {
		BatchID     string `json:"batch_id"`
		Assignments []struct {
			RepName        string `json:"rep_name"`
			IntroMessageID string `json:"intro_message_id"`
			MessageID      string `json:"message_id"`
		} `json:"assignments"`
	}
	_ = json.Unmarshal(e.Results, &res)
	if counts := s.awaitBatch(res.BatchID, 30*time.Second); counts["sent"] != 24 {
		t.Fatalf("counts %v", counts)
	}
	for i, a := range res.Assignments {
		intro, card := s.record(a.IntroMessageID), s.record(a.MessageID)
		if intro.SentAt.After(*card.SentAt) || card.at("sending").Before(intro.at("sent")) {
			t.Fatalf("lead %d: the card went before the intro: intro %+v, card %+v", i, intro.History, card.History)
		}
	}
	var reps []string
	for _, a := range res.Assignments[:8] {
		reps = append(reps, a.RepName)
	}
	if strings.Join(reps, " ") != "Ann Ann Raj Ann Ann Ann Raj Ann" {
		t.Fatalf("weighted 3:1 gave %v", reps)
	}
}

func TestBatchCLISendsTheAPIKey(t *testing.T) {
	t.Parallel()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer 0123456789abcdef" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":"UNAUTHORIZED","message":"Authorization: an API key is required","results":null}`)
			return
		}
		if r.URL.Path != "/send/contact/batch" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Device-Id") != "sales" {
			t.Errorf("unexpected request %s %s %v", r.Method, r.URL, r.Header)
		}
		fmt.Fprint(w, `{"code":"SUCCESS","message":"Batch queued for sending","results":{"batch_id":"b_0123456789abcdef","device_id":"sales","accepted":1}}`)
	}))
	t.Cleanup(api.Close)
	s := &stack{t: t, url: api.URL}
	file := filepath.Join(t.TempDir(), "cards.json")
	_ = os.WriteFile(file, []byte(`{"items":[{"phone":"6289685024991","contact_name":"A","contact_phone":"112"}]}`), 0o600)
	if _, err := s.runBatch("send", file, "--device", "sales"); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED (HTTP 401)") {
		t.Fatalf("without a key: %v", err)
	}
	out, err := s.runBatchEnv(map[string]string{"WACARD_API_KEY": "0123456789abcdef"}, "send", file, "--device", "sales")
	if err != nil || !strings.Contains(out, "batch b_0123456789abcdef: 1 messages queued on device sales") {
		t.Fatalf("with the key: %v\n%s", err, out)
	}
	if _, err := s.runBatch("send", file, "--device", "sales", "--api-key", "0123456789abcdef"); err != nil {
		t.Fatalf("--api-key: %v", err)
	}
}
