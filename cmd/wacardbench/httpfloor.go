package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wacard/wacard/internal/msgid"
)

// httpFloor is the cheapest answer POST /send/contact could give: a chi
// route that reads and decodes the JSON body and writes the success
// envelope with a fresh message id, touching nothing else. It is served from
// this process, on loopback, to the same HTTP client as the API. Its rate is
// the ceiling any HTTP API reaches on this machine with this client, which
// puts P1's "80 % of raw Enqueue" in proportion: that ratio compares an HTTP
// round trip with an in-process function call.
type httpFloor struct {
	srv *http.Server
	url string
}

func startHTTPFloor() (*httpFloor, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Post("/send/contact", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"code": "SUCCESS", "message": "Success",
			"results": map[string]string{"message_id": msgid.New(), "status": "queued"}})
	})
	f := &httpFloor{srv: &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}, url: "http://" + ln.Addr().String()}
	// Should Serve fail, the floor's requests fail and P1 reports them.
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *httpFloor) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f.srv.Shutdown(ctx)
}
