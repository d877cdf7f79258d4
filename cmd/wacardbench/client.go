package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// apiClient talks to one wacard API over keep-alive connections.
type apiClient struct {
	base string
	http *http.Client
}

// newAPIClient returns a client keeping up to conns idle connections to the
// API (at least 64), so a load of that many concurrent requests reuses them.
func newAPIClient(base string, conns int) *apiClient {
	conns = max(conns, 64)
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &apiClient{base: base, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// envelope is every wacard answer.
type envelope struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Results json.RawMessage `json:"results"`
}

// post sends body to path and decodes a SUCCESS answer's results into out.
func (c *apiClient) post(ctx context.Context, path, device, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Device-Id", device)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil || e.Code != "SUCCESS" {
		return fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(e.Results, out)
}

// contactBody is a POST /send/contact body for recipient to.
func contactBody(to string) []byte {
	return []byte(`{"phone":"` + to + `","contact_name":"Bench Rep","contact_phone":"6281234567890"}`)
}

// sendContact queues one contact card and returns its message id.
func (c *apiClient) sendContact(ctx context.Context, device, to string) (string, error) {
	var r struct {
		MessageID string `json:"message_id"`
	}
	if err := c.post(ctx, "/send/contact", device, "application/json", contactBody(to), &r); err != nil {
		return "", err
	}
	return r.MessageID, nil
}

// batchBody is a JSON POST /send/contact/batch body with one item per recipient.
func batchBody(recipients []string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"defaults":{"contact_name":"Bench Rep","contact_phone":"6281234567890"},"items":[`)
	for i, to := range recipients {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"phone":"` + to + `"}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// sendBatch queues a prepared batch body and returns its message ids in item order.
func (c *apiClient) sendBatch(ctx context.Context, device string, body []byte) ([]string, error) {
	var r struct {
		Accepted int `json:"accepted"`
		Items    []struct {
			Index     int    `json:"index"`
			MessageID string `json:"message_id"`
		} `json:"items"`
	}
	if err := c.post(ctx, "/send/contact/batch", device, "application/json", body, &r); err != nil {
		return nil, err
	}
	ids := make([]string, len(r.Items))
	for _, it := range r.Items {
		if it.Index < 0 || it.Index >= len(ids) {
			return nil, fmt.Errorf("batch answer has item index %d of %d", it.Index, len(ids))
		}
		ids[it.Index] = it.MessageID
	}
	if r.Accepted != len(ids) {
		return nil, fmt.Errorf("batch accepted %d of %d items", r.Accepted, len(ids))
	}
	return ids, nil
}
