// Package config reads wacard's configuration from the environment once, at
// start, into one struct, and validates it with errors that name the variable.
// docs/configuration.md documents every variable.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wacard/wacard/internal/webhook"
)

// Config is the whole configuration of every wacard process.
type Config struct {
	Addr        string   // WACARD_ADDR: API listen address
	MetricsAddr string   // WACARD_METRICS_ADDR: worker metrics/health listen address ("off" = none)
	RedisURL    string   // WACARD_REDIS_URL
	RedisPrefix string   // WACARD_REDIS_PREFIX: prefix of every key and queue wacard writes
	DataDir     string   // WACARD_DATA_DIR
	DatabaseURL string   // WACARD_DATABASE_URL: Postgres for the device store; "" = SQLite in DataDir
	PublicURL   string   // WACARD_PUBLIC_URL: base of status URLs in responses ("" = relative)
	APIKeys     []APIKey // WACARD_API_KEYS: keys the API accepts; none = open API
	OpsAddr     string   // WACARD_OPS_ADDR: separate listener for the API's /healthz, /readyz, /metrics ("" = API port)

	SandboxDevices     []string // WACARD_SANDBOX_DEVICES
	SandboxFailSuffix  string   // WACARD_SANDBOX_FAIL_SUFFIX: recipients ending in it fail permanently
	SandboxFlakySuffix string   // WACARD_SANDBOX_FLAKY_SUFFIX: recipients ending in it fail their first attempt
	// WACARD_SANDBOX_TIMELOCK_SUFFIX: recipients ending in it meet WhatsApp's
	// reach-out timelock (error 463) once, pausing the device.
	SandboxTimelockSuffix string
	TimelockPause         time.Duration // WACARD_TIMELOCK_PAUSE: how long error 463 pauses a device
	// WACARD_SANDBOX_DELIVERED_AFTER / _READ_AFTER: delays of the receipts a
	// sandbox device emits ("off" = none); WACARD_SANDBOX_LOGIN_AFTER: how
	// long a sandbox device's simulated login takes.
	SandboxDeliveredAfter, SandboxReadAfter, SandboxLoginAfter time.Duration

	WorkerID          string        // WACARD_WORKER_ID
	WorkerConcurrency int           // WACARD_WORKER_CONCURRENCY: concurrent sends per device
	MaxRetry          int           // WACARD_MAX_RETRY: attempts after the first
	StatusRetention   time.Duration // WACARD_STATUS_RETENTION
	IdempotencyWindow time.Duration // WACARD_IDEMPOTENCY_WINDOW
	MaxBodyBytes      int64         // WACARD_MAX_BODY_BYTES
	MaxBatchItems     int           // WACARD_MAX_BATCH_ITEMS: items per batch request
	MaxBatchBytes     int64         // WACARD_MAX_BATCH_BYTES: bytes per batch request
	SendTimeout       time.Duration // WACARD_SEND_TIMEOUT: one WhatsApp send attempt
	OfflineGrace      time.Duration // WACARD_OFFLINE_GRACE: how long a message may wait for its device before failing

	LeaseTTL       time.Duration // WACARD_LEASE_TTL: device lease lifetime without renewal
	WorkerCapacity int           // WACARD_WORKER_CAPACITY: most devices one worker holds
	PacePerMinute  int           // WACARD_PACE_PER_MINUTE: default sends per minute per device; 0 = off
	DailyCap       int           // WACARD_DAILY_CAP: default sends per device per UTC day; 0 = none

	AdminUI       bool // WACARD_ADMIN_UI: on|off — the asynqmon queue UI at /admin/queues (default off)
	AdminReadOnly bool // WACARD_ADMIN_READONLY: true|false — the queue UI cannot change tasks (default true)

	LogFormat string // WACARD_LOG_FORMAT: json | text
	LogLevel  string // WACARD_LOG_LEVEL: debug | info | warn | error
	LogPhones string // WACARD_LOG_PHONES: mask (default) | full

	// WACARD_WEBHOOK_URLS: receivers of status events, each with an optional
	// event filter (syntax in webhook.ParseEndpoints); none = webhooks off.
	WebhookEndpoints []webhook.Endpoint
	WebhookSecret    Secret        // WACARD_WEBHOOK_SECRET: HMAC-SHA256 key signing every request
	WebhookMaxRetry  int           // WACARD_WEBHOOK_MAX_RETRY: retries after the first attempt
	WebhookTimeout   time.Duration // WACARD_WEBHOOK_TIMEOUT: one delivery attempt
}

// Getenv is os.Getenv's shape, so tests can pass a map.
type Getenv func(string) string

// Load reads the configuration from getenv, applies defaults and validates it.
func Load(getenv Getenv) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	p := parser{getenv: getenv}
	host, _ := os.Hostname()
	c := Config{
		Addr:                  p.str("WACARD_ADDR", ":3000"),
		MetricsAddr:           p.off(p.str("WACARD_METRICS_ADDR", ":9091")),
		RedisURL:              p.str("WACARD_REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisPrefix:           p.str("WACARD_REDIS_PREFIX", "wacard:"),
		DataDir:               p.str("WACARD_DATA_DIR", "./data"),
		DatabaseURL:           p.str("WACARD_DATABASE_URL", ""),
		PublicURL:             strings.TrimRight(p.str("WACARD_PUBLIC_URL", ""), "/"),
		APIKeys:               p.apiKeys("WACARD_API_KEYS"),
		OpsAddr:               p.str("WACARD_OPS_ADDR", ""),
		SandboxDevices:        p.list("WACARD_SANDBOX_DEVICES"),
		SandboxFailSuffix:     p.off(p.str("WACARD_SANDBOX_FAIL_SUFFIX", "0000")),
		SandboxFlakySuffix:    p.off(p.str("WACARD_SANDBOX_FLAKY_SUFFIX", "9999")),
		SandboxTimelockSuffix: p.off(p.str("WACARD_SANDBOX_TIMELOCK_SUFFIX", "4630")),
		TimelockPause:         p.dur("WACARD_TIMELOCK_PAUSE", 15*time.Minute),
		SandboxDeliveredAfter: p.durOff("WACARD_SANDBOX_DELIVERED_AFTER", 2*time.Second),
		SandboxReadAfter:      p.durOff("WACARD_SANDBOX_READ_AFTER", 5*time.Second),
		SandboxLoginAfter:     p.dur("WACARD_SANDBOX_LOGIN_AFTER", 6*time.Second),
		WorkerID:              p.str("WACARD_WORKER_ID", fmt.Sprintf("%s-%d", host, os.Getpid())),
		WorkerConcurrency:     p.int("WACARD_WORKER_CONCURRENCY", 4),
		MaxRetry:              p.int("WACARD_MAX_RETRY", 8),
		StatusRetention:       p.dur("WACARD_STATUS_RETENTION", 7*24*time.Hour),
		IdempotencyWindow:     p.dur("WACARD_IDEMPOTENCY_WINDOW", 24*time.Hour),
		MaxBodyBytes:          int64(p.int("WACARD_MAX_BODY_BYTES", 1<<20)),
		MaxBatchItems:         p.int("WACARD_MAX_BATCH_ITEMS", 10000),
		MaxBatchBytes:         int64(p.int("WACARD_MAX_BATCH_BYTES", 32<<20)),
		SendTimeout:           p.dur("WACARD_SEND_TIMEOUT", 30*time.Second),
		OfflineGrace:          p.dur("WACARD_OFFLINE_GRACE", 24*time.Hour),
		LeaseTTL:              p.dur("WACARD_LEASE_TTL", 15*time.Second),
		WorkerCapacity:        p.int("WACARD_WORKER_CAPACITY", 1000),
		PacePerMinute:         p.int("WACARD_PACE_PER_MINUTE", 0),
		DailyCap:              p.int("WACARD_DAILY_CAP", 0),
		AdminUI:               p.boolean("WACARD_ADMIN_UI", false),
		AdminReadOnly:         p.boolean("WACARD_ADMIN_READONLY", true),
		LogFormat:             p.str("WACARD_LOG_FORMAT", "text"),
		LogLevel:              p.str("WACARD_LOG_LEVEL", "info"),
		LogPhones:             p.str("WACARD_LOG_PHONES", "mask"),
		WebhookEndpoints:      p.webhooks("WACARD_WEBHOOK_URLS"),
		WebhookSecret:         Secret(p.str("WACARD_WEBHOOK_SECRET", "")),
		WebhookMaxRetry:       p.int("WACARD_WEBHOOK_MAX_RETRY", 12),
		WebhookTimeout:        p.dur("WACARD_WEBHOOK_TIMEOUT", 10*time.Second),
	}
	if err := joinLines(append(p.errs, c.Validate())); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks every rule and reports all broken ones, each naming its variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+rule, append([]any{name}, args...)...))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("WACARD_ADDR", "must be host:port, e.g. :3000 (%v)", err)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("WACARD_METRICS_ADDR", "must be host:port or empty (%v)", err)
		}
	}
	if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
		bad("WACARD_REDIS_URL", "must be a redis://, rediss:// or unix:// URL")
	}
	if c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, " {}") {
		bad("WACARD_REDIS_PREFIX", "must be non-empty without spaces or braces")
	}
	if c.DataDir == "" {
		bad("WACARD_DATA_DIR", "must not be empty")
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("WACARD_DATABASE_URL", "must be a postgres:// URL, or empty for SQLite in WACARD_DATA_DIR")
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("WACARD_PUBLIC_URL", "must be an absolute URL like https://wacard.example.com")
		}
	}
	errs = append(errs, c.validateAccess()...)
	for _, id := range c.SandboxDevices {
		if err := ValidDeviceID(id); err != nil {
			bad("WACARD_SANDBOX_DEVICES", "%q %v", id, err)
		}
	}
	if c.WorkerID == "" || strings.ContainsAny(c.WorkerID, " \t") {
		bad("WACARD_WORKER_ID", "must be non-empty without spaces")
	}
	if c.WorkerConcurrency < 1 || c.WorkerConcurrency > 64 {
		bad("WACARD_WORKER_CONCURRENCY", "must be between 1 and 64")
	}
	if c.MaxRetry < 0 || c.MaxRetry > 100 {
		bad("WACARD_MAX_RETRY", "must be between 0 and 100")
	}
	if c.StatusRetention < time.Minute {
		bad("WACARD_STATUS_RETENTION", "must be at least 1m")
	}
	if c.IdempotencyWindow < time.Second {
		bad("WACARD_IDEMPOTENCY_WINDOW", "must be at least 1s")
	}
	if c.MaxBodyBytes < 1024 {
		bad("WACARD_MAX_BODY_BYTES", "must be at least 1024")
	}
	if c.MaxBatchItems < 1 || c.MaxBatchItems > 1000000 {
		bad("WACARD_MAX_BATCH_ITEMS", "must be between 1 and 1000000")
	}
	if c.MaxBatchBytes < 1024 {
		bad("WACARD_MAX_BATCH_BYTES", "must be at least 1024")
	}
	if c.SendTimeout < time.Second {
		bad("WACARD_SEND_TIMEOUT", "must be at least 1s")
	}
	if c.OfflineGrace < time.Second {
		bad("WACARD_OFFLINE_GRACE", "must be at least 1s")
	}
	if c.SandboxDeliveredAfter < 0 || c.SandboxReadAfter < 0 {
		bad("WACARD_SANDBOX_DELIVERED_AFTER", "and WACARD_SANDBOX_READ_AFTER must be durations or off")
	}
	if c.SandboxLoginAfter < time.Second {
		bad("WACARD_SANDBOX_LOGIN_AFTER", "must be at least 1s")
	}
	if c.TimelockPause < time.Second {
		bad("WACARD_TIMELOCK_PAUSE", "must be at least 1s")
	}
	if c.LeaseTTL < 3*time.Second || c.LeaseTTL > time.Minute {
		bad("WACARD_LEASE_TTL", "must be between 3s and 1m")
	}
	if c.WorkerCapacity < 1 {
		bad("WACARD_WORKER_CAPACITY", "must be at least 1")
	}
	if c.PacePerMinute < 0 || c.PacePerMinute > 6000 {
		bad("WACARD_PACE_PER_MINUTE", "must be between 0 (off) and 6000")
	}
	if c.DailyCap < 0 {
		bad("WACARD_DAILY_CAP", "must be 0 (none) or more")
	}
	if c.SendTimeout > 10*time.Minute {
		bad("WACARD_SEND_TIMEOUT", "must be at most 10m")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("WACARD_LOG_FORMAT", "must be json or text")
	}
	if c.LogPhones != "mask" && c.LogPhones != "full" {
		bad("WACARD_LOG_PHONES", "must be mask or full")
	}
	switch {
	case len(c.WebhookEndpoints) > 0 && c.WebhookSecret == "":
		bad("WACARD_WEBHOOK_SECRET", "required when WACARD_WEBHOOK_URLS is set (receivers check signatures with it)")
	case c.WebhookSecret != "" && len(c.WebhookSecret) < 16:
		bad("WACARD_WEBHOOK_SECRET", "must be at least 16 characters, e.g. from `openssl rand -hex 32`")
	}
	if c.WebhookMaxRetry < 0 || c.WebhookMaxRetry > 100 {
		bad("WACARD_WEBHOOK_MAX_RETRY", "must be between 0 and 100")
	}
	if c.WebhookTimeout < time.Second || c.WebhookTimeout > 5*time.Minute {
		bad("WACARD_WEBHOOK_TIMEOUT", "must be between 1s and 5m")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("WACARD_LOG_LEVEL", "must be debug, info, warn or error")
	}
	return joinLines(errs)
}

// joinLines joins errs one per line. Line breaks inside an error (a value
// echoed back) are escaped, so every line names its variable.
func joinLines(errs []error) error {
	var flat []error
	for _, e := range errs {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			flat = append(flat, j.Unwrap()...)
		} else if e != nil {
			flat = append(flat, oneLine{e})
		}
	}
	return errors.Join(flat...)
}

// oneLine is an error whose text has its line breaks escaped.
type oneLine struct{ err error }

func (e oneLine) Error() string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(e.err.Error())
}
func (e oneLine) Unwrap() error { return e.err }

// ValidDeviceID checks a device id: 1-64 characters of letters, digits, '-', '_' or '.'.
func ValidDeviceID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("must be 1-64 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return errors.New("may hold only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

type parser struct {
	getenv Getenv
	errs   []error
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

// off turns the value "off" into "" (the variable's feature is disabled); an
// empty variable means "use the default", so "off" is how to switch one off.
func (p *parser) off(v string) string {
	if strings.EqualFold(v, "off") {
		return ""
	}
	return v
}

func (p *parser) list(name string) []string {
	var out []string
	for _, s := range strings.Split(p.getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Secret is a value that must not show in logs or test failures: it prints as
// a placeholder. Convert it with string() where it is used.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "(hidden)"
}

// GoString hides the value from %#v too.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// webhooks parses WACARD_WEBHOOK_URLS; a malformed value yields no endpoints.
func (p *parser) webhooks(name string) []webhook.Endpoint {
	eps, err := webhook.ParseEndpoints(p.getenv(name))
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w; the syntax is `<url>[|<event>,...]`, endpoints separated by spaces", name, err))
		return nil
	}
	return eps
}

func (p *parser) int(name string, def int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: must be a whole number, got %q", name, v))
		return def
	}
	return n
}

// boolean reads on/off, true/false, yes/no or 1/0.
func (p *parser) boolean(name string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(p.getenv(name))) {
	case "":
		return def
	case "on", "true", "yes", "1":
		return true
	case "off", "false", "no", "0":
		return false
	}
	p.errs = append(p.errs, fmt.Errorf("%s: must be on or off, got %q", name, p.getenv(name)))
	return def
}

// durOff is dur where "off" means 0 (the feature is disabled).
func (p *parser) durOff(name string, def time.Duration) time.Duration {
	if strings.EqualFold(strings.TrimSpace(p.getenv(name)), "off") {
		return 0
	}
	return p.dur(name, def)
}

func (p *parser) dur(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: must be a duration like 30s, 5m or 24h, got %q", name, v))
		return def
	}
	return d
}
