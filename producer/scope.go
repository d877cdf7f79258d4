package producer

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/msgid"
	"github.com/wacard/wacard/internal/status"
)

// errForbidden is the answer to a key that may not use a device. A device
// outside the key's scope is forbidden whether it exists or not, so a key
// cannot probe for other devices.
func errForbidden(field, msg string) *apiError {
	return &apiError{Status: http.StatusForbidden, Code: "FORBIDDEN", Message: field + ": " + msg}
}

func errDeviceForbidden(field, id string) *apiError {
	return errForbidden(field, "this API key may not use device "+quote(id))
}

// allowDevice refuses a device outside the request key's scope.
func allowDevice(r *http.Request, field, id string) error {
	if !scopeOf(r.Context()).allows(id) {
		return errDeviceForbidden(field, id)
	}
	return nil
}

// resolveDevice is lookupDevice kept within the key's scope.
func (s *Server) resolveDevice(r *http.Request) (device.Device, error) {
	d, err := s.lookupDevice(r)
	sc := scopeOf(r.Context())
	if sc == nil {
		return d, err
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "DEVICE_NOT_FOUND" {
		id, _ := ae.Results.(map[string]any)["device_id"].(string)
		return device.Device{}, errDeviceForbidden("X-Device-Id", id)
	}
	if err != nil {
		return d, err
	}
	return d, allowDevice(r, "X-Device-Id", d.ID)
}

// checkPathScope keeps a limited key to its devices on every route under
// /devices/{id}, /messages/{id} and /batches/{id}, whatever the method or
// sub-route. An unknown message or batch is left to its handler's 404.
func (s *Server) checkPathScope(r *http.Request) error {
	sc := scopeOf(r.Context())
	if sc == nil {
		return nil
	}
	seg := strings.Split(strings.TrimPrefix(routingPath(r), "/"), "/")
	if len(seg) < 2 || seg[1] == "" {
		return nil
	}
	id := seg[1]
	switch seg[0] {
	case "devices":
		return allowDevice(r, "id", id)
	case "messages":
		if !msgid.Valid(id) {
			return nil
		}
		rec, err := s.Status.Get(r.Context(), id)
		if errors.Is(err, status.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !sc.allows(rec.DeviceID) {
			return errForbidden("message_id", id+" was sent from a device this API key may not use")
		}
	case "batches":
		h, err := s.batchHeader(r.Context(), id)
		var ae *apiError
		if errors.As(err, &ae) {
			return nil
		}
		if err != nil {
			return err
		}
		if !sc.allows(h.device) {
			return errForbidden("batch_id", id+" belongs to a device this API key may not use")
		}
	}
	return nil
}
