package producer

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wacard/wacard/internal/status"
)

// Paging of a batch's failed messages.
const (
	defaultFailedLimit = 100
	maxFailedLimit     = 1000
)

// allStates lists every state, so a batch's counts always show each one.
var allStates = [...]status.State{status.Queued, status.Sending, status.Retrying, status.Waiting,
	status.Sent, status.Delivered, status.Read, status.Failed, status.Cancelled}

// batchView is the answer to GET /batches/{id}.
type batchView struct {
	BatchID   string               `json:"batch_id"`
	DeviceID  string               `json:"device_id"`
	Kind      string               `json:"kind"`
	CreatedAt time.Time            `json:"created_at"`
	Total     int                  `json:"total"`
	Counts    map[status.State]int `json:"counts"`
	Progress  float64              `json:"progress"` // finished messages / total, 0 to 1
	Done      bool                 `json:"done"`     // every message is finished
	Failed    failedPage           `json:"failed"`
}

// failedPage is one page of a batch's failed messages, in the order they failed.
type failedPage struct {
	Total  int64        `json:"total"`
	Offset int64        `json:"offset"`
	Limit  int64        `json:"limit"`
	Items  []failedItem `json:"items"`
}

type failedItem struct {
	MessageID  string     `json:"message_id"`
	Recipient  string     `json:"recipient,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Attempts   int        `json:"attempts"`
	LastError  string     `json:"last_error,omitempty"`
	ErrorClass string     `json:"error_class,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// batchHead is what the batch hash says about a batch.
type batchHead struct {
	device, kind string
	total        int
	createdAt    time.Time
}

// batchHeader reads the batch hash; an unknown id is a 404.
func (s *Server) batchHeader(ctx context.Context, id string) (batchHead, error) {
	notFound := errNotFound("batch_id: no batch " + quote(id) + " (never accepted, or past its retention)")
	if !validBatchID(id) {
		return batchHead{}, notFound
	}
	vals, err := s.Redis.HMGet(ctx, s.Accepter.batchKey(id), "device", "kind", "total", "created_at").Result()
	if err != nil {
		return batchHead{}, err
	}
	str := func(i int) string { v, _ := vals[i].(string); return v }
	if str(0) == "" {
		return batchHead{}, notFound
	}
	h := batchHead{device: str(0), kind: str(1)}
	h.total, _ = strconv.Atoi(str(2))
	if ms, err := strconv.ParseInt(str(3), 10, 64); err == nil {
		h.createdAt = time.UnixMilli(ms).UTC()
	}
	return h, nil
}

func (s *Server) handleGetBatch(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	offset, limit, perr := pageQuery(r)
	if len(perr) > 0 {
		return validationError(perr)
	}
	h, err := s.batchHeader(r.Context(), id)
	if err != nil {
		return err
	}
	counts, err := s.Status.BatchCounts(r.Context(), id)
	if err != nil {
		return err
	}
	v := batchView{BatchID: id, DeviceID: h.device, Kind: h.kind, CreatedAt: h.createdAt, Total: h.total,
		Counts: make(map[status.State]int, len(allStates))}
	finished := 0
	for _, st := range allStates {
		v.Counts[st] = counts[st]
		if st.Terminal() {
			finished += counts[st]
		}
	}
	if h.total > 0 {
		v.Progress = float64(finished) / float64(h.total)
		v.Done = finished >= h.total
	}
	ids, nFailed, err := s.Status.BatchFailed(r.Context(), id, offset, limit)
	if err != nil {
		return err
	}
	v.Failed = failedPage{Total: nFailed, Offset: offset, Limit: limit, Items: make([]failedItem, 0, len(ids))}
	for _, mid := range ids {
		it := failedItem{MessageID: mid}
		rec, err := s.Status.Get(r.Context(), mid)
		switch {
		case errors.Is(err, status.ErrNotFound):
		case err != nil:
			return err
		default:
			it = failedItem{MessageID: mid, Recipient: rec.Recipient, Kind: rec.Kind, Attempts: rec.Attempts,
				LastError: rec.LastError, ErrorClass: rec.ErrorClass, FinishedAt: rec.FinishedAt}
		}
		v.Failed.Items = append(v.Failed.Items, it)
	}
	writeSuccess(w, v)
	return nil
}

// pageQuery reads ?offset= (default 0) and ?limit= (default 100, at most 1000).
func pageQuery(r *http.Request) (offset, limit int64, errs []FieldError) {
	q := r.URL.Query()
	offset, limit = 0, defaultFailedLimit
	if v := q.Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, FieldError{Field: "offset", Rule: "must be a whole number, 0 or more"})
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > maxFailedLimit {
			errs = append(errs, FieldError{Field: "limit", Rule: "must be a whole number from 1 to 1000"})
		}
		limit = n
	}
	return offset, limit, errs
}
