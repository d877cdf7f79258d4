package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/msgid"
)

// P1 and P2 run an API process without workers: they measure accepting, and
// a worker sending at the same time would take CPU from it.
const (
	acceptConc     = 32               // concurrent clients
	acceptRequests = 20000            // requests per measured round
	acceptRounds   = 3                // alternating rounds; the best one counts
	halfRateFor    = 4 * time.Second  // each open-loop run at half the maximum rate
	batchItems     = 10000            // the largest batch the API takes by default
	batchRounds    = 3                // the median counts
	rawTaskTimeout = 5 * time.Minute  // the producer's asynq task timeout
	rawRetention   = 60 * time.Minute // the producer's asynq retention
)

// rawEnqueuer enqueues wacard-shaped tasks straight through asynq, as the
// producer does after its own checks and bookkeeping: the reference for P1.
type rawEnqueuer struct {
	rdb   *redis.Client
	enq   *asynq.Client
	queue string
	p     job.Payload
}

func newRawEnqueuer(d *deployment) *rawEnqueuer {
	opt := *d.rdb.Options()
	rdb := redis.NewClient(&opt) // a pool of its own, as large as the API's (64)
	return &rawEnqueuer{
		rdb: rdb, enq: asynq.NewClientFromRedisClient(rdb),
		queue: job.QueueName(d.prefix+"raw:", "bench"),
		p: job.Payload{DeviceID: "bench", Kind: job.KindContact, To: phone(9, 1) + "@s.whatsapp.net",
			Contacts: []job.Contact{{Name: "Bench Rep", Phone: "6281234567890"}}},
	}
}

func (r *rawEnqueuer) close() { _ = r.enq.Close(); _ = r.rdb.Close() }

func (r *rawEnqueuer) enqueue(ctx context.Context, _ int) error {
	p := r.p
	p.MessageID = msgid.New()
	p.AcceptedAt = time.Now().UTC()
	b, err := p.Encode()
	if err != nil {
		return err
	}
	_, err = r.enq.EnqueueContext(ctx, asynq.NewTask(job.TypeSend, b, asynq.TaskID(p.MessageID),
		asynq.Queue(r.queue), asynq.MaxRetry(job.AsynqMaxRetry), asynq.Timeout(rawTaskTimeout), asynq.Retention(rawRetention)))
	return err
}

// benchAccept is P1: POST /send/contact at the maximum rate and at half of
// it, beside raw asynq Enqueue at the same concurrency and rate. Measurements
// alternate between the two, so that a burst of load from elsewhere on the
// machine hits both, and each figure is the best of its rounds: load from
// elsewhere only ever lowers a rate or raises a latency.
func benchAccept(ctx context.Context, ws *workspace) ([]row, error) {
	d, err := ws.newDeployment(ctx, "accept", ws.env.redisURL, map[string]string{"WACARD_SANDBOX_DEVICES": "bench"})
	if err != nil {
		return nil, err
	}
	defer d.close()
	if err := d.startAPI(ctx, nil); err != nil {
		return nil, err
	}
	api := newAPIClient(d.api, 512)
	raw := newRawEnqueuer(d)
	defer raw.close()
	floor, err := startHTTPFloor()
	if err != nil {
		return nil, err
	}
	defer floor.close()
	floorClient := newAPIClient(floor.url, 512)
	floorOp := func(ctx context.Context, i int) error {
		_, err := floorClient.sendContact(ctx, "bench", phone(99, i))
		return err
	}
	series := 0
	apiOp := func() func(context.Context, int) error {
		series++
		s := series
		return func(ctx context.Context, i int) error {
			_, err := api.sendContact(ctx, "bench", phone(s, i))
			return err
		}
	}
	measure := func(what string, fn func() loadResult) (loadResult, error) {
		r := fn()
		if r.errs > 0 {
			return r, fmt.Errorf("%s: %d of %d calls failed, first: %v", what, r.errs, r.n, r.firstErr)
		}
		return r, nil
	}

	ws.env.logf("P1 warm-up, then %d rounds of %s requests from %d clients (raw asynq, API)", acceptRounds, groupDigits(acceptRequests), acceptConc)
	if _, err := measure("warm-up", func() loadResult { return closedLoop(ctx, acceptConc, 1000, raw.enqueue) }); err != nil {
		return nil, err
	}
	if _, err := measure("warm-up", func() loadResult { return closedLoop(ctx, acceptConc, 1000, apiOp()) }); err != nil {
		return nil, err
	}
	if _, err := measure("warm-up", func() loadResult { return closedLoop(ctx, acceptConc, 1000, floorOp) }); err != nil {
		return nil, err
	}
	var bestRaw, bestAPI, bestFloor loadResult
	var apiCPU, rawCPU cpuCost
	for round := 1; round <= acceptRounds; round++ {
		c0 := sampleCPU(ctx, d)
		r, err := measure("raw asynq", func() loadResult { return closedLoop(ctx, acceptConc, acceptRequests, raw.enqueue) })
		if err != nil {
			return nil, err
		}
		c1 := sampleCPU(ctx, d)
		a, err := measure("API", func() loadResult { return closedLoop(ctx, acceptConc, acceptRequests, apiOp()) })
		if err != nil {
			return nil, err
		}
		c2 := sampleCPU(ctx, d)
		f, err := measure("HTTP floor", func() loadResult { return closedLoop(ctx, acceptConc, acceptRequests, floorOp) })
		if err != nil {
			return nil, err
		}
		if f.rate() > bestFloor.rate() {
			bestFloor = f
		}
		rc := c1.sub(c0)
		rc.api = 0 // the idle API process is not part of the raw path
		rawCPU = rawCPU.least(cpuCost{cpu: rc, n: acceptRequests})
		apiCPU = apiCPU.least(cpuCost{cpu: c2.sub(c1), n: acceptRequests})
		ws.env.logf("  round %d: API %s (p50 %s, p99 %s), raw asynq %s (p50 %s, p99 %s), HTTP floor %s", round,
			perSec(a.rate()), ms(a.p(0.5)), ms(a.p(0.99)), perSec(r.rate()), ms(r.p(0.5)), ms(r.p(0.99)), perSec(f.rate()))
		if r.rate() > bestRaw.rate() {
			bestRaw = r
		}
		if a.rate() > bestAPI.rate() {
			bestAPI = a
		}
	}

	half := bestAPI.rate() / 2
	ws.env.logf("P1 %d rounds of open loop at %s (half the API's best) for %s (API, raw asynq)", acceptRounds, perSec(half), halfRateFor)
	var halfAPI, halfRaw []time.Duration
	for round := 1; round <= acceptRounds; round++ {
		a, err := measure("API at half rate", func() loadResult { return openLoop(ctx, half, halfRateFor, 512, apiOp()) })
		if err != nil {
			return nil, err
		}
		r, err := measure("raw asynq at half rate", func() loadResult { return openLoop(ctx, half, halfRateFor, 512, raw.enqueue) })
		if err != nil {
			return nil, err
		}
		ws.env.logf("  round %d: API p50 %s, p99 %s; raw asynq p50 %s, p99 %s", round, ms(a.p(0.5)), ms(a.p(0.99)), ms(r.p(0.5)), ms(r.p(0.99)))
		halfAPI = append(halfAPI, a.p(0.99))
		halfRaw = append(halfRaw, r.p(0.99))
	}
	hAPI, hRaw := slices.Min(halfAPI), slices.Min(halfRaw)

	ratio := bestAPI.rate() / bestRaw.rate()
	return []row{
		{id: "P1", measure: fmt.Sprintf("POST /send/contact, %d clients, %s requests (best of %d rounds)", acceptConc, groupDigits(acceptRequests), acceptRounds),
			value: perSec(bestAPI.rate()), reference: "raw asynq Enqueue " + perSec(bestRaw.rate()),
			ratio: pct(ratio), goal: "≥ 80 % of raw", verdict: verdict(ratio >= 0.8)},
		{id: "P1", measure: "  the same requests to an HTTP floor: a chi route that decodes the body and answers, no Redis",
			value: perSec(bestAPI.rate()), reference: "HTTP floor " + perSec(bestFloor.rate()) + "; floor / raw " + pct(bestFloor.rate()/bestRaw.rate()),
			ratio: pct(bestAPI.rate() / bestFloor.rate())},
		{id: "P1", measure: "  latency p50 / p99 at that rate",
			value: ms(bestAPI.p(0.5)) + " / " + ms(bestAPI.p(0.99)), reference: ms(bestRaw.p(0.5)) + " / " + ms(bestRaw.p(0.99))},
		{id: "P1", measure: "  CPU µs per request: API + Redis + client (least of the rounds)",
			value: apiCPU.String(), reference: "raw: Redis + client " + rawCPU.String(), ratio: fmt.Sprintf("%.1f×", apiCPU.total()/rawCPU.total())},
		{id: "P1", measure: fmt.Sprintf("  p99 at half the max, %s open loop for %s (best of %d)", perSec(half), halfRateFor, acceptRounds),
			value: ms(hAPI), reference: "raw asynq at the same rate " + ms(hRaw),
			goal: "≤ 10 ms", verdict: verdict(hAPI <= 10*time.Millisecond)},
	}, nil
}

// benchBatch is P2: accepting a 10,000-item JSON batch, beside one go-redis
// pipeline writing 10,000 keys of a record's size.
func benchBatch(ctx context.Context, ws *workspace) ([]row, error) {
	d, err := ws.newDeployment(ctx, "batch", ws.env.redisURL, map[string]string{"WACARD_SANDBOX_DEVICES": "bench"})
	if err != nil {
		return nil, err
	}
	defer d.close()
	if err := d.startAPI(ctx, nil); err != nil {
		return nil, err
	}
	api := newAPIClient(d.api, 0)
	// Warm the API's connections and code paths with a small batch.
	if _, err := api.sendBatch(ctx, "bench", batchBody([]string{phone(0, 1), phone(0, 2)})); err != nil {
		return nil, err
	}
	value := strings.Repeat("x", 400) // about a status record plus its task
	var took, ref []time.Duration
	for round := range batchRounds {
		to := make([]string, batchItems)
		for i := range to {
			to[i] = phone(round+1, i)
		}
		body := batchBody(to)
		t := time.Now()
		ids, err := api.sendBatch(ctx, "bench", body)
		if err != nil {
			return nil, err
		}
		took = append(took, time.Since(t))
		if len(ids) != batchItems {
			return nil, fmt.Errorf("batch answered %d ids for %d items", len(ids), batchItems)
		}

		t = time.Now()
		_, err = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range batchItems {
				p.Set(ctx, fmt.Sprintf("%srawkv:%d:%d", d.prefix, round, i), value, 10*time.Minute)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		ref = append(ref, time.Since(t))
		ws.env.logf("  batch round %d: %s (pipeline %s)", round+1, ms(took[round]), ms(ref[round]))
	}
	slices.Sort(took)
	slices.Sort(ref)
	med, refMed := took[len(took)/2], ref[len(ref)/2]
	return []row{{
		id: "P2", measure: fmt.Sprintf("accept a %s-item JSON batch (median of %d)", groupDigits(batchItems), batchRounds),
		value: ms(med), reference: fmt.Sprintf("pipeline of %s SETs %s", groupDigits(batchItems), ms(refMed)),
		ratio: fmt.Sprintf("%.1f×", float64(med)/float64(refMed)), goal: "≤ 1 s", verdict: verdict(med <= time.Second),
	}}, nil
}
