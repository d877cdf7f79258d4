package producer

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// envelope is the shape of every response, success or error, as in the
// reference API: {"code", "message", "results"}.
type envelope struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Results any    `json:"results"`
}

// apiError is an error with its HTTP status, code and optional results. Every
// error a handler returns is turned into a response in writeError, and only
// here.
type apiError struct {
	Status  int
	Code    string
	Message string
	Results any
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// FieldError names a request field and the rule it broke.
type FieldError struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
	Index *int   `json:"index,omitempty"` // item index in a batch
	Line  int    `json:"line,omitempty"`  // CSV line in a batch
}

func (f FieldError) String() string { return f.Field + ": " + f.Rule }

func validationError(errs []FieldError) *apiError {
	msg := errs[0].String()
	if len(errs) > 1 {
		msg += " (and more: see results.errors)"
	}
	return &apiError{Status: http.StatusBadRequest, Code: "VALIDATION_ERROR", Message: msg, Results: map[string]any{"errors": errs}}
}

func errDeviceRequired() *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "DEVICE_ID_REQUIRED",
		Message: "X-Device-Id: required when more than one device is registered (or none is)"}
}

func errDeviceNotFound(id string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "DEVICE_NOT_FOUND",
		Message: "X-Device-Id: no device is registered with id " + quote(id), Results: map[string]any{"device_id": id}}
}

func errNotFound(what string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: what}
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeSuccess(w http.ResponseWriter, results any) {
	writeJSON(w, http.StatusOK, envelope{Code: "SUCCESS", Message: "Success", Results: results})
}

// writeError answers err: an *apiError as itself, anything else as a 500 whose
// detail is logged, never sent to the client.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL_SERVER_ERROR",
			Message: "internal error; the request was not accepted, it is safe to retry"}
	}
	writeJSON(w, ae.Status, envelope{Code: ae.Code, Message: ae.Message, Results: ae.Results})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
