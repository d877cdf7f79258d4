package producer

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/wacard/wacard/internal/job"
)

// batchResults is the answer to POST /send/contact/batch.
type batchResults struct {
	BatchID        string       `json:"batch_id"`
	DeviceID       string       `json:"device_id"`
	StatusURL      string       `json:"status_url"`
	Accepted       int          `json:"accepted"`
	Items          []batchEntry `json:"items"`
	RejectedItems  int          `json:"rejected_items"`
	Rejected       []FieldError `json:"rejected"`
	IgnoredColumns []string     `json:"ignored_columns,omitempty"`
}

// batchEntry is one accepted item: its index in the request and its message.
type batchEntry struct {
	Index     int    `json:"index"`
	MessageID string `json:"message_id"`
}

// handleSendContactBatch queues many contact cards in one request: a JSON
// object with defaults and items, NDJSON or CSV. By default it is all or
// nothing; ?partial=true queues the valid items and reports the others.
func (s *Server) handleSendContactBatch(w http.ResponseWriter, r *http.Request) error {
	dev, err := s.resolveDevice(r)
	if err != nil {
		return err
	}
	if err := requireContentType(r, ctJSON, ctNDJSON, ctCSV); err != nil {
		return err
	}
	var errs []FieldError
	partial, perr := boolQuery(r, "partial")
	if perr != nil {
		errs = append(errs, *perr)
	}
	idem, ierr := idempotencyKey(r)
	if ierr != nil {
		errs = append(errs, *ierr)
	}
	if len(errs) > 0 {
		return validationError(errs)
	}
	body, err := readBody(w, r, s.MaxBatchBody)
	if err != nil {
		return err
	}
	var in batchInput
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case ctCSV:
		in, err = readCSV(body, s.MaxBatchItems)
	case ctNDJSON:
		in, err = readNDJSON(body, s.MaxBatchItems)
	default:
		in, err = readJSONBatch(body, s.MaxBatchItems)
	}
	if err != nil {
		return err
	}

	results := validateItems(in)
	rejected := []FieldError{}
	var rejectedItems int
	payloads := make([]job.Payload, 0, len(results))
	indexes := make([]int, 0, len(results))
	for i, res := range results {
		if len(res.errs) > 0 {
			rejected = append(rejected, res.errs...)
			rejectedItems++
			continue
		}
		payloads = append(payloads, res.p)
		indexes = append(indexes, i)
	}
	if len(rejected) > 0 && (!partial || len(payloads) == 0) {
		return itemErrors(rejected)
	}

	acc, err := s.Accepter.AcceptBatch(r.Context(), Batch{
		DeviceID: dev.ID,
		Kind:     "contact",
		Payloads: payloads,
		Results: func(batchID string, ids []string) any {
			items := make([]batchEntry, len(ids))
			for k, id := range ids {
				items[k] = batchEntry{Index: indexes[k], MessageID: id}
			}
			return batchResults{
				BatchID: batchID, DeviceID: dev.ID, StatusURL: s.PublicURL + "/batches/" + batchID,
				Accepted: len(ids), Items: items, RejectedItems: rejectedItems, Rejected: rejected,
				IgnoredColumns: in.ignored,
			}
		},
	}, idem)
	if err != nil {
		return batchAcceptError(acc, err)
	}
	s.writeBatchAccepted(w, dev.ID, len(payloads), acc, "Batch queued for sending")
	return nil
}

// writeBatchAccepted answers an accepted batch (or a repeat of one) and counts
// its messages.
func (s *Server) writeBatchAccepted(w http.ResponseWriter, device string, messages int, acc BatchAccepted, okText string) {
	if !acc.Duplicate {
		s.Metrics.Accepted.WithLabelValues(device).Add(float64(messages))
		writeJSON(w, http.StatusOK, envelope{Code: "SUCCESS", Message: okText, Results: acc.Results})
		return
	}
	// The stored results are the JSON object Batch.Results made; mark the repeat.
	res := acc.Results
	if len(res) > 1 && res[0] == '{' {
		res = append([]byte(`{"duplicate":true,`), res[1:]...)
	}
	writeJSON(w, http.StatusOK, envelope{Code: "SUCCESS",
		Message: "Already accepted with this Idempotency-Key; nothing new was queued", Results: json.RawMessage(res)})
}

func batchAcceptError(acc BatchAccepted, err error) error {
	if errors.Is(err, errBatchInProgress) {
		return &apiError{Status: http.StatusConflict, Code: "BATCH_IN_PROGRESS",
			Message: "Idempotency-Key: batch " + acc.BatchID + " with this key is still being accepted; repeat the request shortly",
			Results: map[string]any{"batch_id": acc.BatchID}}
	}
	return err
}

// boolQuery reads an optional true/false query parameter.
func boolQuery(r *http.Request, name string) (bool, *FieldError) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &FieldError{Field: name, Rule: "must be true or false"}
	}
	return b, nil
}
