package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/wacard/wacard/internal/config"
)

const batchUsage = `Usage:
  wacard batch send <file> [--device <id>] [--wait] [--partial] [--idempotency-key <key>]
  wacard batch status <batch-id>
  wacard batch cancel <batch-id>

<file> is .csv, .ndjson, .jsonl or .json (docs/batches.md). Every command
takes --api <url> (default $WACARD_API_URL, else http://127.0.0.1:3000) and
--api-key <key> (default $WACARD_API_KEY) when the API requires a key.
`

// batchCmd runs `wacard batch ...`. It talks to the API over HTTP only, so it
// needs neither Redis nor any configuration but the API's URL (and its key,
// if it requires one).
func batchCmd(ctx context.Context, getenv config.Getenv, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, batchUsage)
		return fmt.Errorf("%w: wacard batch send|status|cancel", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("batch "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	apiURL := getenv("WACARD_API_URL")
	if apiURL == "" {
		apiURL = "http://127.0.0.1:3000"
	}
	c := &batchClient{http: http.DefaultClient, stdout: stdout, stderr: stderr}
	fs.StringVar(&c.api, "api", apiURL, "the wacard API's base URL")
	fs.StringVar(&c.key, "api-key", getenv("WACARD_API_KEY"), "the API key, when the API requires one")
	device := fs.String("device", "", "send: the device to send from (X-Device-Id)")
	wait := fs.Bool("wait", false, "send: show progress until every message is finished; fail if any failed")
	partial := fs.Bool("partial", false, "send: queue the valid items and report the others, instead of rejecting the file")
	idem := fs.String("idempotency-key", "", "send: a key that makes a repeated upload return the first batch")
	fs.DurationVar(&c.poll, "poll", time.Second, "send --wait: how often to ask for progress")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, batchUsage)
		return fmt.Errorf("%w: wacard batch %s takes exactly one argument", errUsage, sub)
	}
	if u, err := url.Parse(c.api); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%w: --api / WACARD_API_URL %q must be a URL like http://127.0.0.1:3000", errUsage, c.api)
	}
	c.api = strings.TrimRight(c.api, "/")

	switch sub {
	case "send":
		id, err := c.send(ctx, pos[0], *device, *partial, *idem)
		if err != nil || !*wait {
			return err
		}
		return c.wait(ctx, id)
	case "status":
		v, err := c.status(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.summary(ctx, v)
	case "cancel":
		return c.cancel(ctx, pos[0])
	}
	fmt.Fprint(stderr, batchUsage)
	return fmt.Errorf("%w: unknown batch command %q", errUsage, sub)
}

// parseInterspersed parses flags that may come before or after positional
// arguments (`batch send leads.csv --wait`), and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// batchClient calls the batch endpoints of the API.
type batchClient struct {
	api    string
	key    string
	http   *http.Client
	poll   time.Duration
	stdout io.Writer
	stderr io.Writer
}

// apiReply is the API's envelope.
type apiReply struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Results json.RawMessage `json:"results"`
}

// call sends one request and decodes the envelope; an error reply becomes an
// error listing what the API said was wrong.
func (c *batchClient) call(ctx context.Context, method, path, contentType string, body io.Reader, header map[string]string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the wacard API at %s (set --api or WACARD_API_URL): %w", c.api, err)
	}
	defer resp.Body.Close()
	var r apiReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s %s: HTTP %d with a body that is not the API's JSON: %w", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return replyError(resp.StatusCode, r)
	}
	if out != nil {
		if err := json.Unmarshal(r.Results, out); err != nil {
			return fmt.Errorf("%s %s: unexpected results: %w", method, path, err)
		}
	}
	return nil
}

// replyError turns an error reply into an error that lists every item
// problem the API reported.
func replyError(status int, r apiReply) error {
	var res struct {
		Errors []struct {
			Field string `json:"field"`
			Rule  string `json:"rule"`
			Index *int   `json:"index"`
			Line  int    `json:"line"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(r.Results, &res)
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d): %s", r.Code, status, r.Message)
	const show = 50
	for i, e := range res.Errors {
		if i == show {
			fmt.Fprintf(&b, "\n  ... and %d more", len(res.Errors)-show)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(where(e.Index, e.Line))
		b.WriteString(e.Field + ": " + e.Rule)
	}
	return errors.New(b.String())
}

func where(index *int, line int) string {
	switch {
	case line > 0 && index != nil:
		return fmt.Sprintf("line %d (item %d): ", line, *index)
	case line > 0:
		return fmt.Sprintf("line %d: ", line)
	case index != nil:
		return fmt.Sprintf("item %d: ", *index)
	}
	return ""
}

// contentTypeOf picks the batch format from the file name.
func contentTypeOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "text/csv", nil
	case ".ndjson", ".jsonl":
		return "application/x-ndjson", nil
	case ".json":
		return "application/json", nil
	}
	return "", fmt.Errorf("%w: %s: the file must end in .csv, .ndjson, .jsonl or .json", errUsage, path)
}

// sent is what send needs of POST /send/contact/batch's answer.
type sent struct {
	BatchID   string `json:"batch_id"`
	DeviceID  string `json:"device_id"`
	Accepted  int    `json:"accepted"`
	Duplicate bool   `json:"duplicate"`
	Rejected  []struct {
		Field string `json:"field"`
		Rule  string `json:"rule"`
		Index *int   `json:"index"`
		Line  int    `json:"line"`
	} `json:"rejected"`
	IgnoredColumns []string `json:"ignored_columns"`
}

func (c *batchClient) send(ctx context.Context, path, device string, partial bool, idem string) (string, error) {
	ct, err := contentTypeOf(path)
	if err != nil {
		return "", err
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	header := map[string]string{}
	if device != "" {
		header["X-Device-Id"] = device
	}
	if idem != "" {
		header["Idempotency-Key"] = idem
	}
	target := "/send/contact/batch"
	if partial {
		target += "?partial=true"
	}
	var r sent
	if err := c.call(ctx, http.MethodPost, target, ct, bytes.NewReader(body), header, &r); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if r.Duplicate {
		fmt.Fprintf(c.stdout, "batch %s: already accepted with this idempotency key; nothing new was queued\n", r.BatchID)
	} else {
		fmt.Fprintf(c.stdout, "batch %s: %d messages queued on device %s\n", r.BatchID, r.Accepted, r.DeviceID)
	}
	if len(r.IgnoredColumns) > 0 {
		fmt.Fprintf(c.stdout, "ignored columns that name no field: %s\n", strings.Join(r.IgnoredColumns, ", "))
	}
	if len(r.Rejected) > 0 {
		fmt.Fprintf(c.stdout, "rejected (not queued):\n")
		for _, e := range r.Rejected {
			fmt.Fprintf(c.stdout, "  %s%s: %s\n", where(e.Index, e.Line), e.Field, e.Rule)
		}
	}
	return r.BatchID, nil
}

// batchView is what the CLI shows of GET /batches/{id}.
type batchView struct {
	BatchID  string         `json:"batch_id"`
	DeviceID string         `json:"device_id"`
	Total    int            `json:"total"`
	Counts   map[string]int `json:"counts"`
	Progress float64        `json:"progress"`
	Done     bool           `json:"done"`
	Failed   struct {
		Total int `json:"total"`
		Items []struct {
			MessageID  string `json:"message_id"`
			Recipient  string `json:"recipient"`
			LastError  string `json:"last_error"`
			ErrorClass string `json:"error_class"`
		} `json:"items"`
	} `json:"failed"`
}

func (c *batchClient) status(ctx context.Context, id string) (batchView, error) {
	return c.page(ctx, id, 0, 1)
}

func (c *batchClient) page(ctx context.Context, id string, offset, limit int) (batchView, error) {
	var v batchView
	err := c.call(ctx, http.MethodGet, fmt.Sprintf("/batches/%s?offset=%d&limit=%d", url.PathEscape(id), offset, limit), "", nil, nil, &v)
	return v, err
}

// wait shows a progress bar on stderr until every message of the batch is
// finished, then prints the summary.
func (c *batchClient) wait(ctx context.Context, id string) error {
	v, err := c.status(ctx, id)
	if err != nil {
		return err
	}
	bar := progressbar.NewOptions(v.Total,
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetDescription("sending"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for !v.Done {
		_ = bar.Set(finished(v))
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.stderr)
			return ctx.Err()
		case <-tick.C:
		}
		if v, err = c.status(ctx, id); err != nil {
			return err
		}
	}
	_ = bar.Set(finished(v))
	_ = bar.Finish()
	fmt.Fprintln(c.stderr)
	if err := c.summary(ctx, v); err != nil {
		return err
	}
	if v.Failed.Total > 0 {
		return fmt.Errorf("%d of %d messages of batch %s failed", v.Failed.Total, v.Total, v.BatchID)
	}
	return nil
}

func finished(v batchView) int {
	n := 0
	for _, st := range []string{"sent", "delivered", "read", "failed", "cancelled"} {
		n += v.Counts[st]
	}
	return n
}

// summary prints the counts by state and every failed message with its
// reason.
func (c *batchClient) summary(ctx context.Context, v batchView) error {
	state := "in progress"
	if v.Done {
		state = "done"
	}
	fmt.Fprintf(c.stdout, "batch %s on device %s: %d messages, %s (%.0f%%)\n", v.BatchID, v.DeviceID, v.Total, state, v.Progress*100)
	for _, st := range []string{"queued", "waiting", "sending", "retrying", "sent", "delivered", "read", "failed", "cancelled"} {
		if n := v.Counts[st]; n > 0 {
			fmt.Fprintf(c.stdout, "  %-10s %d\n", st, n)
		}
	}
	if v.Failed.Total == 0 {
		return nil
	}
	fmt.Fprintln(c.stdout, "failed:")
	const pageSize = 1000
	for off := 0; off < v.Failed.Total; off += pageSize {
		p, err := c.page(ctx, v.BatchID, off, pageSize)
		if err != nil {
			return err
		}
		for _, it := range p.Failed.Items {
			reason := it.LastError
			if it.ErrorClass != "" {
				reason += " [" + it.ErrorClass + "]"
			}
			fmt.Fprintf(c.stdout, "  %s to %s: %s\n", it.MessageID, it.Recipient, reason)
		}
		if len(p.Failed.Items) == 0 {
			break
		}
	}
	return nil
}

func (c *batchClient) cancel(ctx context.Context, id string) error {
	var r struct {
		Cancelled    int `json:"cancelled"`
		AlreadyFinal int `json:"already_final"`
		InFlight     int `json:"in_flight"`
	}
	if err := c.call(ctx, http.MethodDelete, "/batches/"+url.PathEscape(id), "", nil, nil, &r); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "batch %s: %d cancelled, %d already finished, %d being sent (they finish normally)\n",
		id, r.Cancelled, r.AlreadyFinal, r.InFlight)
	return nil
}
