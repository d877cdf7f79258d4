package producer

import (
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/msgid"
	"github.com/wacard/wacard/internal/status"
)

func (s *Server) handleGetMessage(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if !msgid.Valid(id) {
		return errNotFound("message_id: " + quote(id) + " is not a message id")
	}
	rec, err := s.Status.Get(r.Context(), id)
	if errors.Is(err, status.ErrNotFound) {
		return errNotFound("message_id: no message " + id + " (never accepted, or past its retention)")
	}
	if err != nil {
		return err
	}
	writeSuccess(w, rec)
	return nil
}

// deviceView is a device as the API shows it.
type deviceView struct {
	device.Device
	State device.State `json:"state"`
}

func (s *Server) handleListDevices(w http.ResponseWriter, r *http.Request) error {
	states, err := s.Registry.States(r.Context())
	if err != nil {
		return err
	}
	all := s.Devices.All()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	out := make([]deviceView, 0, len(all))
	sc := scopeOf(r.Context())
	for _, d := range all {
		if !sc.allows(d.ID) {
			continue
		}
		st, ok := states[d.ID]
		if !ok {
			st.Conn = device.ConnUnknown
		}
		out = append(out, deviceView{Device: d, State: st})
	}
	writeSuccess(w, map[string]any{"devices": out})
	return nil
}

// handleAddDevice registers a device: {"id": "...", "kind": "whatsapp"|"sandbox"}.
func (s *Server) handleAddDevice(w http.ResponseWriter, r *http.Request) error {
	f, err := readJSONObject(w, r, s.MaxBody)
	if err != nil {
		return err
	}
	c := checker{f: f}
	id, ok := c.str("id", true)
	kind, _ := c.str("kind", false)
	if ok {
		if err := config.ValidDeviceID(id); err != nil {
			c.fail("id", err.Error())
		}
	}
	if kind == "" {
		kind = string(device.KindWhatsApp)
	}
	if kind != string(device.KindWhatsApp) && kind != string(device.KindSandbox) {
		c.fail("kind", "must be whatsapp or sandbox")
	}
	if len(c.errs) > 0 {
		return validationError(c.errs)
	}
	if err := allowDevice(r, "id", id); err != nil {
		return err
	}
	d := device.Device{ID: id, Kind: device.Kind(kind), CreatedAt: time.Now().UTC()}
	if err := s.Registry.Add(r.Context(), d); errors.Is(err, device.ErrExists) {
		return &apiError{Status: http.StatusConflict, Code: "DEVICE_EXISTS", Message: "id: a device " + quote(id) + " is already registered"}
	} else if err != nil {
		return err
	}
	writeSuccess(w, d)
	return nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, envelope{Code: "SUCCESS", Message: "alive"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.ready(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, envelope{Code: "NOT_READY", Message: "redis: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, envelope{Code: "SUCCESS", Message: "ready"})
}
