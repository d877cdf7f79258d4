package producer

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"rsc.io/qr"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/phone"
)

// The login endpoints let a browser link a device whichever worker holds it:
// the API records the request in Redis and the holding worker runs the
// WhatsApp login, writing its progress (device.Login) back for the page to
// poll. The API never talks to WhatsApp itself.

// handleLoginPage serves the login page of a device. It needs no API key,
// since a browser cannot send one when it opens a page; the page asks for
// the key and sends it on every call. So with keys configured it says
// nothing about whether the device exists; the page's calls find out.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	keyed := len(s.APIKeys) > 0
	if keyed {
		if config.ValidDeviceID(id) != nil {
			return errPathDeviceNotFound(id)
		}
	} else if _, err := s.device(r); err != nil {
		return err
	}
	nonce := newNonce()
	pageHeaders(w, nonce)
	return loginPage.Execute(w, struct {
		DeviceID    string
		KeyRequired bool
		Nonce       string
	}{id, keyed, nonce})
}

// handleLoginStart asks the worker holding the device to log it in: with a
// QR code, or with a pairing code when the optional body names a phone.
func (s *Server) handleLoginStart(w http.ResponseWriter, r *http.Request) error {
	d, err := s.device(r)
	if err != nil {
		return err
	}
	req := device.LoginRequest{DeviceID: d.ID}
	if r.ContentLength != 0 {
		f, err := readJSONObject(w, r, s.MaxBody)
		if err != nil {
			return err
		}
		c := checker{f: f}
		if v, ok := c.str("phone", false); ok && strings.TrimSpace(v) != "" {
			req.Phone = pairingPhone(&c, v)
		}
		if len(c.errs) > 0 {
			return validationError(c.errs)
		}
	}
	owner, err := s.Registry.Owner(r.Context(), d.ID)
	if err != nil {
		return err
	}
	if owner == "" {
		return &apiError{Status: http.StatusConflict, Code: "NO_WORKER",
			Message: "id: no worker holds device " + quote(d.ID) + " right now; start a worker (wacard serve or wacard worker) and try again",
			Results: map[string]any{"device_id": d.ID}}
	}
	if err := s.Registry.RequestLogin(r.Context(), req); err != nil {
		return err
	}
	l, ok, err := s.Registry.GetLogin(r.Context(), d.ID)
	if err != nil {
		return err
	}
	if !ok { // expired at once: cannot happen with a 10-minute lifetime, but say so
		l = device.Login{Status: device.LoginStarting}
	}
	s.Log.InfoContext(r.Context(), "login requested", "device_id", d.ID, "worker", owner, "pair_code", req.Phone != "")
	writeNoStore(w)
	writeSuccess(w, l)
	return nil
}

// pairingPhone checks the number a pairing code is requested for: an
// international number with its country code, as typed by a person (a
// leading "+", spaces, dashes, dots and parentheses are dropped). WhatsApp
// wants the digits.
func pairingPhone(c *checker, v string) string {
	v = strings.TrimPrefix(phoneSeparators.Replace(strings.TrimSpace(v)), "+")
	n, err := phone.ParseContactPhone(v)
	if err != nil || n.ShortCode {
		c.fail("phone", "must be the device's phone number with its country code (e.g. +62 812-3456-7890 or 6281234567890)")
		return ""
	}
	return n.Digits
}

var phoneSeparators = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "")

// handleLoginState is the device's login as the worker last wrote it.
func (s *Server) handleLoginState(w http.ResponseWriter, r *http.Request) error {
	l, err := s.login(r)
	if err != nil {
		return err
	}
	writeNoStore(w)
	writeSuccess(w, l)
	return nil
}

// handleLoginQR renders the current QR code as a PNG. It changes as WhatsApp
// rotates the code; the page adds ?v=<updated_at> to get the new one.
func (s *Server) handleLoginQR(w http.ResponseWriter, r *http.Request) error {
	l, err := s.login(r)
	if err != nil {
		return err
	}
	if l.Status != device.LoginQR || l.QR == "" {
		return errNotFound("qr: the login of device " + quote(chi.URLParam(r, "id")) + " shows no QR code (status " + string(l.Status) + ")")
	}
	code, err := qr.Encode(l.QR, qr.M)
	if err != nil {
		return err
	}
	png := code.PNG()
	writeNoStore(w)
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(png)
	return nil
}

// login reads the login of the device in the path; none under way is a 404.
func (s *Server) login(r *http.Request) (device.Login, error) {
	d, err := s.device(r)
	if err != nil {
		return device.Login{}, err
	}
	l, ok, err := s.Registry.GetLogin(r.Context(), d.ID)
	if err != nil {
		return device.Login{}, err
	}
	if !ok {
		return device.Login{}, errNotFound("no login of device " + quote(d.ID) + " is under way; POST /devices/" + d.ID + "/login/start begins one")
	}
	return l, nil
}

func errPathDeviceNotFound(id string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "DEVICE_NOT_FOUND",
		Message: "id: no device is registered with id " + quote(id), Results: map[string]any{"device_id": id}}
}

// writeNoStore keeps a changing answer out of every cache.
func writeNoStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// pageHeaders are the headers of wacard's HTML pages: their only script and
// style are their own inline ones (with this response's nonce), they load
// nothing from elsewhere and cannot be framed.
func pageHeaders(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; connect-src 'self'; img-src 'self' blob: data:; "+
		"script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
