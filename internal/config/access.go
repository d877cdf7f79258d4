package config

import (
	"fmt"
	"net"
	"strings"
)

// MinAPIKeyLen is the shortest API key accepted: long enough that guessing
// one is hopeless, short enough for any generator (openssl rand -hex 16).
const MinAPIKeyLen = 16

// APIKey is one key of WACARD_API_KEYS and the devices it may use.
type APIKey struct {
	Key     string
	Devices []string // nil = every device
}

// String hides the key, so a Config printed in a log or a test failure does
// not reveal it.
func (k APIKey) String() string {
	scope := "every device"
	if k.Devices != nil {
		scope = "devices " + strings.Join(k.Devices, ",")
	}
	return fmt.Sprintf("API key of %d characters (%s)", len(k.Key), scope)
}

// apiKeys parses WACARD_API_KEYS: entries separated by whitespace, each a key
// alone (every device) or key:dev1,dev2 (only those devices). Error messages
// number the keys from 1 and never repeat them.
func (p *parser) apiKeys(name string) []APIKey {
	var out []APIKey
	for i, entry := range strings.Fields(p.getenv(name)) {
		key, scope, scoped := strings.Cut(entry, ":")
		k := APIKey{Key: key}
		if scoped {
			for _, d := range strings.Split(scope, ",") {
				if d = strings.TrimSpace(d); d != "" {
					k.Devices = append(k.Devices, d)
				}
			}
			if len(k.Devices) == 0 {
				p.errs = append(p.errs, fmt.Errorf("%s: key %d has ':' but no device after it (write key, or key:dev1,dev2)", name, i+1))
				continue
			}
		}
		out = append(out, k)
	}
	return out
}

// validateAccess checks WACARD_API_KEYS and WACARD_OPS_ADDR.
func (c Config) validateAccess() []error {
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+rule, append([]any{name}, args...)...))
	}
	seen := make(map[string]int, len(c.APIKeys))
	for i, k := range c.APIKeys {
		n := i + 1
		switch {
		case len(k.Key) < MinAPIKeyLen:
			bad("WACARD_API_KEYS", "key %d is %d characters long; keys must be at least %d", n, len(k.Key), MinAPIKeyLen)
		case !printableKey(k.Key):
			bad("WACARD_API_KEYS", "key %d may hold only printable ASCII characters other than ':'", n)
		case seen[k.Key] != 0:
			bad("WACARD_API_KEYS", "key %d repeats key %d", n, seen[k.Key])
		default:
			seen[k.Key] = n
		}
		if k.Devices != nil && len(k.Devices) == 0 {
			bad("WACARD_API_KEYS", "key %d is limited to no device at all", n)
		}
		for _, d := range k.Devices {
			if err := ValidDeviceID(d); err != nil {
				bad("WACARD_API_KEYS", "key %d: device %q %v", n, d, err)
			}
		}
	}
	if c.OpsAddr != "" {
		if _, port, err := net.SplitHostPort(c.OpsAddr); err != nil {
			bad("WACARD_OPS_ADDR", "must be host:port or empty (%v)", err)
		} else if c.OpsAddr == c.Addr && port != "0" { // port 0 picks a free port each time
			bad("WACARD_OPS_ADDR", "must differ from WACARD_ADDR (leave it empty to serve health and metrics on the API port)")
		}
	}
	return errs
}

func printableKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x21 || c > 0x7e || c == ':' {
			return false
		}
	}
	return true
}
