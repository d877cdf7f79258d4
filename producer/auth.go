package producer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/wacard/wacard/internal/config"
)

// keyring holds the SHA-256 digests of the API keys. Comparing digests of
// equal length, against every key, keeps both the key and its length out of
// the response time.
type keyring []ringKey

type ringKey struct {
	digest [sha256.Size]byte
	scope  scope
}

func newKeyring(keys []config.APIKey) keyring {
	ring := make(keyring, 0, len(keys))
	for _, k := range keys {
		rk := ringKey{digest: sha256.Sum256([]byte(k.Key))}
		if k.Devices != nil {
			rk.scope = make(scope, len(k.Devices))
			for _, d := range k.Devices {
				rk.scope[d] = true
			}
		}
		ring = append(ring, rk)
	}
	return ring
}

// match finds the presented key. It looks at every key whatever it finds.
func (ring keyring) match(presented string) (scope, bool) {
	d := sha256.Sum256([]byte(presented))
	var found *ringKey
	for i := range ring {
		if subtle.ConstantTimeCompare(d[:], ring[i].digest[:]) == 1 {
			found = &ring[i]
		}
	}
	if found == nil {
		return nil, false
	}
	return found.scope, true
}

// scope is the set of devices a request may use; nil means every device.
type scope map[string]bool

func (sc scope) allows(id string) bool { return sc == nil || sc[id] }

// sole is the device of a key limited to exactly one, else "".
func (sc scope) sole() string {
	if len(sc) != 1 {
		return ""
	}
	for id := range sc {
		return id
	}
	return ""
}

type scopeKey struct{}

// scopeOf is the scope of the request's API key; nil (every device) when the
// key is not limited or the API is open.
func scopeOf(ctx context.Context) scope {
	sc, _ := ctx.Value(scopeKey{}).(scope)
	return sc
}

// authenticate requires a valid API key on every route but the public ones,
// when keys are configured, and then keeps a key limited to some devices
// within them on the routes that name a device, message or batch in their
// path. Without keys the API is open.
func (s *Server) authenticate(next http.Handler) http.Handler {
	ring := newKeyring(s.APIKeys)
	if len(ring) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if publicPath(r) {
			next.ServeHTTP(w, r)
			return
		}
		header, key := presentedKey(r)
		sc, ok := ring.match(key)
		admin := strings.HasPrefix(routingPath(r), AdminRoot)
		if !ok {
			challenge := `Bearer realm="wacard"`
			if admin { // a browser asks for the key (as the password) and sends it on the UI's calls
				challenge = `Basic realm="wacard admin", charset="UTF-8"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeError(w, r, s.Log, errUnauthorized(header, key))
			return
		}
		if admin && sc != nil {
			writeError(w, r, s.Log, errForbidden("Authorization", "the queue UI shows every device; this API key is limited to some"))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), scopeKey{}, sc))
		if err := s.checkPathScope(r); err != nil {
			writeError(w, r, s.Log, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// publicPath reports the routes that need no key: health and metrics (which
// WACARD_OPS_ADDR can move off the API port), the API description, and the
// login page, which a browser opens without headers (the page asks for the
// key, and every call it makes sends it).
func publicPath(r *http.Request) bool {
	switch p := routingPath(r); p {
	case "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs":
		return true
	default:
		seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
		return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			len(seg) == 3 && seg[0] == "devices" && seg[1] != "" && seg[2] == "login"
	}
}

// presentedKey returns the key the request carries and the header it came in:
// Authorization: Bearer <key>, else X-Api-Key: <key>. Basic authentication
// with the key as the password (any user name) is accepted too, for browsers.
func presentedKey(r *http.Request) (header, key string) {
	if v := r.Header.Get("Authorization"); v != "" {
		if _, pw, ok := r.BasicAuth(); ok {
			return "Authorization", pw
		}
		scheme, key, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "Authorization", ""
		}
		return "Authorization", strings.TrimSpace(key)
	}
	return "X-Api-Key", strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

func errUnauthorized(header, key string) *apiError {
	msg := header + ": is not a valid API key"
	switch {
	case header == "Authorization" && key == "":
		msg = "Authorization: must be \"Bearer <API key>\" (or Basic with the key as the password)"
	case key == "":
		msg = "Authorization: an API key is required (Authorization: Bearer <key>, or X-Api-Key: <key>)"
	}
	return &apiError{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: msg}
}

// routingPath is the path as chi routes it, so the scope checks see the same
// {id} the handlers do.
func routingPath(r *http.Request) string {
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.Path
}
