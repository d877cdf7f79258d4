package producer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/msgid"
	"github.com/wacard/wacard/internal/status"
)

// Tuning of AcceptBatch, measured with BenchmarkAcceptBatch10k. asynq has no
// batch enqueue, so tasks are enqueued one by one from enqueueWorkers
// goroutines through go-redis's autopipeliner, which gathers the concurrent
// enqueue scripts into shared round trips; status records go in pipelines of
// recordChunk records.
const (
	enqueueWorkers = 64
	recordChunk    = 1000
	recordWorkers  = 4
)

// Batch is a validated batch, ready to queue.
type Batch struct {
	DeviceID string
	Kind     string        // kept on the batch record: "contact" or "assignment"
	Payloads []job.Payload // in queue order; AcceptBatch sets ids, device and time
	// Results builds the answer from the batch id and the message id of each
	// payload. It is stored, so a repeat with the same Idempotency-Key gets
	// the same answer.
	Results func(batchID string, ids []string) any
}

// BatchAccepted is the outcome of AcceptBatch.
type BatchAccepted struct {
	BatchID   string
	Results   json.RawMessage // Batch.Results' answer, as stored
	Duplicate bool            // an earlier batch with the same Idempotency-Key was accepted
}

// errBatchInProgress is a repeat of an Idempotency-Key whose first batch is
// still being queued.
var errBatchInProgress = errors.New("a batch with this Idempotency-Key is still being accepted")

// batchKey is the hash of a batch: device, kind, total, created_at and the
// stored results. The item ids are in batchItemsKey, in queue order.
func (a *Accepter) batchKey(id string) string      { return a.prefix + "batch:" + id }
func (a *Accepter) batchItemsKey(id string) string { return a.prefix + "batch:" + id + ":items" }

// newBatchID returns "b_" and 16 random hex digits.
func newBatchID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "b_" + hex.EncodeToString(b[:])
}

// validBatchID reports whether s has the shape newBatchID makes.
func validBatchID(s string) bool {
	if len(s) != 18 || s[:2] != "b_" {
		return false
	}
	for i := 2; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// AcceptBatch queues every payload of b for its device as one batch: status
// records first (pipelined), then the tasks, then one wake. Payloads to the
// same recipient are enqueued one after another in their order in b, so an
// intro text stays ahead of its card; different recipients go in parallel.
// If queueing fails part way, the records already written are failed and
// their tasks deleted, and the error is returned. With a non-empty idemKey, a
// repeated key for the same device within the window returns the first
// batch's results and queues nothing.
func (a *Accepter) AcceptBatch(ctx context.Context, b Batch, idemKey string) (BatchAccepted, error) {
	id := newBatchID()
	var ik string
	if idemKey != "" {
		ik = a.prefix + "idemb:" + b.DeviceID + ":" + idemKey
		first, dup, err := a.claimIdem(ctx, ik, id)
		if err != nil {
			return BatchAccepted{}, err
		}
		if dup {
			raw, err := a.rdb.HGet(ctx, a.batchKey(first), "results").Bytes()
			switch {
			case errors.Is(err, redis.Nil):
				return BatchAccepted{BatchID: first}, errBatchInProgress
			case err != nil:
				return BatchAccepted{}, fmt.Errorf("batch %s: %w", first, err)
			}
			return BatchAccepted{BatchID: first, Results: raw, Duplicate: true}, nil
		}
	}
	now := a.now().UTC()
	ids := make([]string, len(b.Payloads))
	for i := range b.Payloads {
		// Each payload is accepted a microsecond after the one before: the
		// worker sends one recipient's messages in order of acceptance time,
		// so the batch order must show in it (an intro before its card).
		p := &b.Payloads[i]
		p.MessageID, p.DeviceID, p.BatchID = msgid.New(), b.DeviceID, id
		p.AcceptedAt = now.Add(time.Duration(i) * time.Microsecond)
		ids[i] = p.MessageID
	}
	res, err := json.Marshal(b.Results(id, ids))
	if err != nil {
		a.releaseIdem(ik)
		return BatchAccepted{}, fmt.Errorf("batch %s: encode results: %w", id, err)
	}
	err = a.recordBatch(ctx, id, b, ids, now)
	if err == nil {
		err = a.queue(ctx, b.Payloads)
	}
	if err != nil {
		a.releaseIdem(ik)
		a.rollback(ctx, b.DeviceID, ids, err)
		return BatchAccepted{}, fmt.Errorf("batch %s: %w", id, err)
	}
	a.wake.notify(b.DeviceID)
	// The batch is queued whatever happens now; a lost copy only costs a
	// repeated Idempotency-Key its answer.
	if err := a.rdb.HSet(context.WithoutCancel(ctx), a.batchKey(id), "results", res).Err(); err != nil {
		a.log.Warn("could not store batch results for Idempotency-Key repeats", "batch_id", id, "err", err)
	}
	return BatchAccepted{BatchID: id, Results: res}, nil
}

// recordBatch writes the batch hash and its item list.
func (a *Accepter) recordBatch(ctx context.Context, id string, b Batch, ids []string, now time.Time) error {
	_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, a.batchKey(id), "device", b.DeviceID, "kind", b.Kind,
			"total", strconv.Itoa(len(ids)), "created_at", strconv.FormatInt(now.UnixMilli(), 10))
		for i := 0; i < len(ids); i += recordChunk {
			chunk := ids[i:min(i+recordChunk, len(ids))]
			args := make([]any, len(chunk))
			for k, v := range chunk {
				args[k] = v
			}
			p.RPush(ctx, a.batchItemsKey(id), args...)
		}
		p.Expire(ctx, a.batchKey(id), a.batchTTL)
		p.Expire(ctx, a.batchItemsKey(id), a.batchTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record batch: %w", err)
	}
	return nil
}

// queue writes every status record, in pipelines of recordChunk records,
// then enqueues every task: a worker must always find a task's record.
func (a *Accepter) queue(ctx context.Context, ps []job.Payload) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(recordWorkers)
	for i := 0; i < len(ps); i += recordChunk {
		chunk := ps[i:min(i+recordChunk, len(ps))]
		g.Go(func() error {
			_, err := a.rdb.Pipelined(gctx, func(p redis.Pipeliner) error {
				for _, pl := range chunk {
					a.status.CreatePipe(gctx, p, recordOf(pl))
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("status records: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return a.enqueueAll(ctx, a.batchClient(), ps)
}

// enqueueAll enqueues every payload of ps through enq, one recipient's
// payloads one after another in order, different recipients in parallel.
func (a *Accepter) enqueueAll(ctx context.Context, enq *asynq.Client, ps []job.Payload) error {
	groups := byRecipient(ps)
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(enqueueWorkers, len(groups)) {
		g.Go(func() error {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(groups) {
					return nil
				}
				for _, i := range groups[k] {
					// A conflict can only be this very task: the autopipeliner
					// resent a batch the server had already run.
					err := a.enqueueOn(gctx, enq, ps[i])
					if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
						return err
					}
				}
			}
		})
	}
	return g.Wait()
}

// batchClient returns the asynq client for batches: the accept path's,
// through the autopipeliner (see pipelined).
func (a *Accepter) batchClient() *asynq.Client { return a.pipelined().enq }

// byRecipient groups payload indexes by recipient, groups in order of first
// appearance and each group in payload order.
func byRecipient(ps []job.Payload) [][]int {
	at := make(map[string]int, len(ps))
	groups := make([][]int, 0, len(ps))
	for i, p := range ps {
		k, ok := at[p.To]
		if !ok {
			k = len(groups)
			at[p.To] = k
			groups = append(groups, nil)
		}
		groups[k] = append(groups[k], i)
	}
	return groups
}

// rollback fails every record of a batch that could not be queued whole and
// deletes the tasks already enqueued. A worker that already picked a task up
// finds the record failed and does not send it.
func (a *Accepter) rollback(ctx context.Context, device string, ids []string, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	queue := job.QueueName(a.prefix, device)
	change := status.Change{To: status.Failed, LastError: "not queued: the batch was not accepted: " + cause.Error(), ErrorClass: "internal"}
	var g errgroup.Group
	g.SetLimit(enqueueWorkers)
	for _, id := range ids {
		g.Go(func() error {
			if _, _, err := a.status.Move(ctx, id, change); err != nil && !errors.Is(err, status.ErrNotFound) {
				return err
			}
			_ = a.insp.DeleteTask(queue, id) // not enqueued, or already running: both fine
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		a.log.Error("could not roll back a batch that was not accepted; its records may stay queued", "err", err)
	}
}
