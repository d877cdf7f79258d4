package producer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/msgid"
	"github.com/wacard/wacard/internal/status"
)

// cancelWorkers bounds the concurrent cancels of one batch.
const cancelWorkers = 16

// cancelMessage moves a message to cancelled and deletes its task. The record
// is what makes it safe: a worker that already holds the task finds the
// record cancelled and does not send, since nothing moves a cancelled record
// to sending. Deleting the task only spares the worker that look.
func (a *Accepter) cancelMessage(ctx context.Context, id, device, note string) (status.Result, status.State, error) {
	res, cur, err := a.status.Move(ctx, id, status.Change{To: status.Cancelled, Note: note})
	if err != nil || res != status.Moved {
		return res, cur, err
	}
	err = a.insp.DeleteTask(job.QueueName(a.prefix, device), id)
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		// Typically the task is running right now; the record stops it.
		a.log.Debug("cancelled message's task left to the worker", "message_id", id, "err", err)
	}
	return res, cur, nil
}

// batchCancel counts what DELETE /batches/{id} did.
type batchCancel struct {
	BatchID      string `json:"batch_id"`
	Total        int    `json:"total"`
	Cancelled    int64  `json:"cancelled"`     // were waiting to be sent, now cancelled
	AlreadyFinal int64  `json:"already_final"` // sent, delivered, read, failed or cancelled before
	InFlight     int64  `json:"in_flight"`     // being sent at this moment; they finish normally
}

// cancelBatch cancels every message of a batch that has not started sending.
func (a *Accepter) cancelBatch(ctx context.Context, batchID, device string) (batchCancel, error) {
	ids, err := a.rdb.LRange(ctx, a.batchItemsKey(batchID), 0, -1).Result()
	if err != nil {
		return batchCancel{}, fmt.Errorf("batch %s items: %w", batchID, err)
	}
	out := batchCancel{BatchID: batchID, Total: len(ids)}
	var cancelled, final, inFlight atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cancelWorkers)
	for _, id := range ids {
		g.Go(func() error {
			res, cur, err := a.cancelMessage(gctx, id, device, "batch cancelled")
			switch {
			case errors.Is(err, status.ErrNotFound):
				final.Add(1) // past its retention: long finished
			case err != nil:
				return err
			case res == status.Moved:
				cancelled.Add(1)
			case cur.Terminal():
				final.Add(1)
			default:
				inFlight.Add(1)
			}
			return nil
		})
	}
	err = g.Wait()
	out.Cancelled, out.AlreadyFinal, out.InFlight = cancelled.Load(), final.Load(), inFlight.Load()
	return out, err
}

func (s *Server) handleCancelBatch(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	b, err := s.batchHeader(r.Context(), id)
	if err != nil {
		return err
	}
	out, err := s.Accepter.cancelBatch(r.Context(), id, b.device)
	s.Metrics.Cancelled.WithLabelValues(b.device).Add(float64(out.Cancelled))
	if err != nil {
		return err
	}
	writeSuccess(w, out)
	return nil
}

// cancelledMessage is the answer to DELETE /messages/{id}.
type cancelledMessage struct {
	MessageID string       `json:"message_id"`
	State     status.State `json:"state"`
	Status    string       `json:"status"`
}

func (s *Server) handleCancelMessage(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if !msgid.Valid(id) {
		return errNotFound("message_id: " + quote(id) + " is not a message id")
	}
	rec, err := s.Status.Get(r.Context(), id)
	if err != nil && !errors.Is(err, status.ErrNotFound) {
		return err
	}
	device := rec.DeviceID
	res, cur, err := s.Accepter.cancelMessage(r.Context(), id, device, "cancelled")
	switch {
	case errors.Is(err, status.ErrNotFound):
		return errNotFound("message_id: no message " + id + " (never accepted, or past its retention)")
	case err != nil:
		return err
	case res == status.Moved:
		s.Metrics.Cancelled.WithLabelValues(device).Inc()
		writeSuccess(w, cancelledMessage{MessageID: id, State: status.Cancelled, Status: "Message cancelled; it will not be sent"})
		return nil
	case cur == status.Cancelled:
		writeSuccess(w, cancelledMessage{MessageID: id, State: status.Cancelled, Status: "Message was already cancelled"})
		return nil
	}
	return &apiError{Status: http.StatusConflict, Code: "NOT_CANCELLABLE",
		Message: "message_id: " + id + " is already " + string(cur) + "; only messages that have not started sending can be cancelled",
		Results: map[string]any{"message_id": id, "state": cur}}
}
