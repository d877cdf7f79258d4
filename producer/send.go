package producer

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/status"
)

// sendResults is the results object of a successful send. message_id and
// status are the reference API's fields; the rest are wacard's additions.
type sendResults struct {
	MessageID string       `json:"message_id"`
	Status    string       `json:"status"`
	State     status.State `json:"state"`
	DeviceID  string       `json:"device_id"`
	StatusURL string       `json:"status_url"`
	Duplicate bool         `json:"duplicate,omitempty"`
}

func (s *Server) handleSendContact(w http.ResponseWriter, r *http.Request) error {
	return s.send(w, r, func(f fields) (job.Payload, []FieldError) { return parseContactMemo(f, s.phones) }, "Contact queued for sending")
}

func (s *Server) handleSendMessage(w http.ResponseWriter, r *http.Request) error {
	return s.send(w, r, func(f fields) (job.Payload, []FieldError) { return parseTextMemo(f, s.phones) }, "Message queued for sending")
}

func (s *Server) send(w http.ResponseWriter, r *http.Request, parse func(fields) (job.Payload, []FieldError), okText string) error {
	dev, err := s.resolveDevice(r)
	if err != nil {
		return err
	}
	f, err := readJSONObject(w, r, s.MaxBody)
	if err != nil {
		return err
	}
	p, errs := parse(f)
	idem, ierr := idempotencyKey(r)
	if ierr != nil {
		errs = append(errs, *ierr)
	}
	if len(errs) > 0 {
		return validationError(errs)
	}
	p.DeviceID = dev.ID
	acc, err := s.Accepter.Accept(r.Context(), p, idem)
	if err != nil {
		return err
	}
	text, state := okText, status.Queued
	if acc.Duplicate {
		if cur, err := s.Status.State(r.Context(), acc.MessageID); err == nil {
			state = cur
		}
	}
	if !acc.Duplicate {
		s.Metrics.Accepted.WithLabelValues(dev.ID).Inc()
	}
	s.Log.InfoContext(r.Context(), "accepted", "message_id", acc.MessageID, "device_id", dev.ID,
		"recipient", s.maskPhone(p.To), "kind", p.Kind, "duplicate", acc.Duplicate)
	if acc.Duplicate {
		text = "Already accepted with this Idempotency-Key; nothing new was queued"
	}
	writeSuccess(w, sendResults{
		MessageID: acc.MessageID,
		Status:    text,
		State:     state,
		DeviceID:  dev.ID,
		StatusURL: s.PublicURL + "/messages/" + acc.MessageID,
		Duplicate: acc.Duplicate,
	})
	return nil
}

// lookupDevice picks the device from X-Device-Id (URL-decoded), falling back
// to ?device_id=; without either, the one device the API key is limited to,
// else the single registered device. The id may also be the device's JID or
// bare number. resolveDevice (scope.go) keeps the answer within the key's scope.
func (s *Server) lookupDevice(r *http.Request) (device.Device, error) {
	ref := strings.TrimSpace(r.Header.Get("X-Device-Id"))
	if dec, err := url.PathUnescape(ref); err == nil { // PathUnescape keeps '+' as '+'
		ref = strings.TrimSpace(dec)
	} else if dec, err := url.QueryUnescape(ref); err == nil {
		ref = dec
	}
	if ref == "" {
		ref = strings.TrimSpace(r.URL.Query().Get("device_id"))
	}
	if ref == "" {
		ref = scopeOf(r.Context()).sole()
	}
	if ref == "" {
		if d, ok := s.Devices.Only(); ok {
			return d, nil
		}
		return device.Device{}, errDeviceRequired()
	}
	if len(ref) > maxDeviceIDLen {
		return device.Device{}, errDeviceNotFound(ref[:maxDeviceIDLen])
	}
	d, ok := s.Devices.Lookup(ref)
	if ok {
		return d, nil
	}
	// Not in the cached registry: it may have been added a moment ago.
	d, err := s.Registry.Get(r.Context(), ref)
	if errors.Is(err, device.ErrNotFound) {
		return device.Device{}, errDeviceNotFound(ref)
	}
	return d, err
}

func idempotencyKey(r *http.Request) (string, *FieldError) {
	k := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if len(k) > maxIdemKeyLen {
		return "", &FieldError{Field: "Idempotency-Key", Rule: "must be at most 128 characters"}
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return "", &FieldError{Field: "Idempotency-Key", Rule: "must be printable ASCII without spaces"}
		}
	}
	return k, nil
}
