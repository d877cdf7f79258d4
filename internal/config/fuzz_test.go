package config

import (
	"strings"
	"testing"
)

// FuzzLoad sets one variable to any value: Load never panics, and every
// error it reports names a WACARD_ variable.
func FuzzLoad(f *testing.F) {
	names := []string{"WACARD_ADDR", "WACARD_REDIS_URL", "WACARD_SANDBOX_DEVICES", "WACARD_API_KEYS", "WACARD_WEBHOOK_URLS",
		"WACARD_LEASE_TTL", "WACARD_PACE_PER_MINUTE", "WACARD_MAX_RETRY", "WACARD_STATUS_RETENTION", "WACARD_ADMIN_UI",
		"WACARD_SANDBOX_DELIVERED_AFTER", "WACARD_PUBLIC_URL", "WACARD_DATABASE_URL", "WACARD_MAX_BATCH_ITEMS"}
	f.Add(uint8(0), ":3000")
	f.Add(uint8(1), "redis://:pw@host:1/2")
	f.Add(uint8(3), "0123456789abcdef:demo,sales other-key-0123456789")
	f.Add(uint8(4), "https://hooks.example.com/x secret=abc")
	f.Add(uint8(5), "-3s")
	f.Add(uint8(10), "off")
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		name := names[int(which)%len(names)]
		_, err := Load(func(k string) string {
			if k == name {
				return value
			}
			return ""
		})
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if strings.TrimSpace(line) != "" && !strings.Contains(line, "WACARD_") {
				t.Fatalf("error line does not name a variable: %q", line)
			}
		}
	})
}
