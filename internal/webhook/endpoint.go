package webhook

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/wacard/wacard/internal/status"
)

// Events lists every event a webhook can receive, in the order the docs show them.
var Events = []string{
	status.EventSent,
	status.EventDelivered,
	status.EventRead,
	status.EventFailed,
	status.EventCancelled,
	status.EventBatchCompleted,
}

// Endpoint is one receiver of webhooks.
type Endpoint struct {
	URL    string   // absolute http:// or https:// URL
	Events []string // events it receives; empty means every event
}

// Wants reports whether the endpoint receives event.
func (e Endpoint) Wants(event string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, event)
}

// String is the endpoint as WACARD_WEBHOOK_URLS writes it, with a password in
// the URL hidden.
func (e Endpoint) String() string {
	s := redact(e.URL)
	if len(e.Events) > 0 {
		s += "|" + strings.Join(e.Events, ",")
	}
	return s
}

// ParseEndpoints parses the WACARD_WEBHOOK_URLS syntax:
//
//	<url>[|<event>,<event>...] ...
//
// Endpoints are separated by whitespace, or by a comma directly followed by
// "http://" or "https://". After a URL, "|" starts its comma-separated event
// filter; without one the endpoint receives every event. For example
//
//	https://a.example/hook https://b.example/hook|message.failed,batch.completed
//
// A comma inside a URL must therefore not be followed by "http(s)://"
// (percent-encode it as %2C). Errors name the offending entry, not the variable;
// the caller adds that.
func ParseEndpoints(s string) ([]Endpoint, error) {
	var out []Endpoint
	seen := map[string]bool{}
	for _, entry := range splitEntries(s) {
		raw, filter, hasFilter := strings.Cut(entry, "|")
		if err := checkURL(raw); err != nil {
			return nil, fmt.Errorf("%q: %w", redact(raw), err)
		}
		ep := Endpoint{URL: raw}
		if hasFilter {
			for _, ev := range strings.Split(filter, ",") {
				if !slices.Contains(Events, ev) {
					return nil, fmt.Errorf("%q: unknown event %q (known: %s)", redact(raw), ev, strings.Join(Events, ", "))
				}
				if !slices.Contains(ep.Events, ev) {
					ep.Events = append(ep.Events, ev)
				}
			}
		}
		if seen[raw] {
			return nil, fmt.Errorf("%q is listed twice (give one entry with every event it needs)", redact(raw))
		}
		seen[raw] = true
		out = append(out, ep)
	}
	return out, nil
}

// splitEntries splits on whitespace, then on commas that start another URL.
// Stray commas around an entry ("a,b," lists) are dropped.
func splitEntries(s string) []string {
	var out []string
	add := func(e string) {
		if e = strings.Trim(e, ","); e != "" {
			out = append(out, e)
		}
	}
	for _, field := range strings.Fields(s) {
		for {
			i := nextURLComma(field)
			if i < 0 {
				break
			}
			add(field[:i])
			field = field[i+1:]
		}
		add(field)
	}
	return out
}

// nextURLComma returns the index of the first comma followed by http:// or
// https://, or -1.
func nextURLComma(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			continue
		}
		rest := strings.ToLower(s[i+1:])
		if strings.HasPrefix(rest, "http://") || strings.HasPrefix(rest, "https://") {
			return i
		}
	}
	return -1
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must start with http:// or https://")
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("has no host")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("must not have a #fragment")
	}
	return nil
}

// redact hides a password in a URL, for logs, errors and attempt records.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
