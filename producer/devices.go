package producer

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/job"
)

// deviceDetail is GET /devices/{id}: the registration, the runtime state the
// holding worker reports, who holds it, its queue, pacing and pause.
type deviceDetail struct {
	device.Device
	State  device.State  `json:"state"`
	Owner  string        `json:"owner"` // worker holding the lease; "" = none
	Queue  queueView     `json:"queue"`
	Pacing pacingView    `json:"pacing"`
	Pause  *device.Pause `json:"pause,omitempty"`
}

type queueView struct {
	Pending          int     `json:"pending"`
	Active           int     `json:"active"`
	Scheduled        int     `json:"scheduled"`
	Retry            int     `json:"retry"`
	Archived         int     `json:"archived"`
	OldestPendingAge float64 `json:"oldest_pending_age_seconds"`
}

type pacingView struct {
	PerMinute int `json:"per_minute"` // 0 = not paced
	DailyCap  int `json:"daily_cap"`  // 0 = none
}

func (s *Server) handleGetDevice(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	d, err := s.device(r)
	if err != nil {
		return err
	}
	st, err := s.Registry.GetState(ctx, d.ID)
	if err != nil {
		return err
	}
	owner, err := s.Registry.Owner(ctx, d.ID)
	if err != nil {
		return err
	}
	out := deviceDetail{Device: d, State: st, Owner: owner, Pacing: pacingView{PerMinute: s.PacePerMinute, DailyCap: s.DailyCap}}
	if d.PacePerMinute != nil {
		out.Pacing.PerMinute = *d.PacePerMinute
	}
	if d.DailyCap != nil {
		out.Pacing.DailyCap = *d.DailyCap
	}
	if pz, ok, err := s.Registry.GetPause(ctx, d.ID); err != nil {
		return err
	} else if ok && pz.Active(time.Now()) {
		out.Pause = &pz
	}
	// asynq only knows a queue once something was enqueued on it (and its
	// "not found" error is internal), so ask its queue set first.
	q := job.QueueName(s.Prefix, d.ID)
	known, err := s.Redis.SIsMember(ctx, "asynq:queues", q).Result()
	if err != nil {
		return err
	}
	if known {
		qi, err := s.inspector.GetQueueInfo(q)
		if err != nil {
			return err
		}
		out.Queue = queueView{Pending: qi.Pending, Active: qi.Active, Scheduled: qi.Scheduled, Retry: qi.Retry,
			Archived: qi.Archived, OldestPendingAge: qi.Latency.Seconds()}
	}
	writeSuccess(w, out)
	return nil
}

// handlePauseDevice pauses a device's queue: its messages stay queued.
// Optional body {"until": RFC 3339 time} or {"for": "2h"}; default until resumed.
func (s *Server) handlePauseDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.device(r)
	if err != nil {
		return err
	}
	pz := device.Pause{Reason: "manual", By: "api"}
	if r.ContentLength != 0 {
		f, err := readJSONObject(w, r, s.MaxBody)
		if err != nil {
			return err
		}
		c := checker{f: f}
		if v, ok := c.str("until", false); ok {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil || !t.After(time.Now()) {
				c.fail("until", "must be a future RFC 3339 time like 2026-11-25T18:00:00Z")
			} else {
				pz.Until = &t
			}
		}
		if v, ok := c.str("for", false); ok {
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				c.fail("for", "must be a positive duration like 30m or 2h")
			} else {
				t := time.Now().Add(dur).UTC()
				pz.Until = &t
			}
		}
		if len(c.errs) > 0 {
			return validationError(c.errs)
		}
	}
	if err := s.Registry.SetPause(r.Context(), d.ID, pz); err != nil {
		return err
	}
	writeSuccess(w, map[string]any{"device_id": d.ID, "pause": pz})
	return nil
}

// handleResumeDevice ends a device's pause, whatever its reason (manual,
// timelock, rate limit, daily cap); what waited is sent.
func (s *Server) handleResumeDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.device(r)
	if err != nil {
		return err
	}
	if err := s.Registry.ClearPause(r.Context(), d.ID); err != nil {
		return err
	}
	writeSuccess(w, map[string]any{"device_id": d.ID, "paused": false})
	return nil
}

// handleRemoveDevice removes a device from the registry; the worker holding it
// stops it and releases its lease. Its queued messages stay queued.
func (s *Server) handleRemoveDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.device(r)
	if err != nil {
		return err
	}
	if err := s.Registry.Remove(r.Context(), d.ID); err != nil {
		return err
	}
	writeSuccess(w, map[string]any{"device_id": d.ID, "removed": true})
	return nil
}

// device loads the device named in the path.
func (s *Server) device(r *http.Request) (device.Device, error) {
	id := chi.URLParam(r, "id")
	d, err := s.Registry.Get(r.Context(), id)
	if errors.Is(err, device.ErrNotFound) {
		return d, &apiError{Status: http.StatusNotFound, Code: "DEVICE_NOT_FOUND",
			Message: "id: no device is registered with id " + quote(id), Results: map[string]any{"device_id": id}}
	}
	return d, err
}

// handleMetrics refreshes the gauges the API owns (registered devices and
// whether a worker holds each) before serving the registry: one MGET per
// scrape instead of a background loop.
func (s *Server) handleMetrics(next http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		all := s.Devices.All()
		ids := make([]string, len(all))
		for i, d := range all {
			ids[i] = d.ID
		}
		s.Metrics.DevicesRegistered.Set(float64(len(ids)))
		if owners, err := s.Registry.Owners(r.Context(), ids); err == nil {
			s.Metrics.DeviceHeld.Reset()
			for id, o := range owners {
				v := 0.0
				if o != "" {
					v = 1
				}
				s.Metrics.DeviceHeld.WithLabelValues(id).Set(v)
			}
		} else {
			s.Log.Warn("reading device owners for metrics failed", "err", err)
		}
		next.ServeHTTP(w, r)
	}
}
