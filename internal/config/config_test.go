package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env is a Getenv backed by a map.
func env(m map[string]string) Getenv {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	got, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatalf("Load with an empty environment: %v", err)
	}
	host, _ := os.Hostname()
	want := Config{
		Addr:                  ":3000",
		MetricsAddr:           ":9091",
		RedisURL:              "redis://127.0.0.1:6379/0",
		RedisPrefix:           "wacard:",
		DataDir:               "./data",
		DatabaseURL:           "",
		PublicURL:             "",
		SandboxDevices:        nil,
		SandboxFailSuffix:     "0000",
		SandboxFlakySuffix:    "9999",
		WorkerID:              fmt.Sprintf("%s-%d", host, os.Getpid()),
		WorkerConcurrency:     4,
		MaxRetry:              8,
		StatusRetention:       7 * 24 * time.Hour,
		IdempotencyWindow:     24 * time.Hour,
		MaxBodyBytes:          1 << 20,
		MaxBatchItems:         10000,
		MaxBatchBytes:         32 << 20,
		SendTimeout:           30 * time.Second,
		OfflineGrace:          24 * time.Hour,
		LeaseTTL:              15 * time.Second,
		TimelockPause:         15 * time.Minute,
		SandboxDeliveredAfter: 2 * time.Second,
		SandboxReadAfter:      5 * time.Second,
		SandboxLoginAfter:     6 * time.Second,
		SandboxTimelockSuffix: "4630",
		WorkerCapacity:        1000,
		AdminReadOnly:         true,
		LogFormat:             "text",
		LogPhones:             "mask",
		LogLevel:              "info",
		WebhookMaxRetry:       12,
		WebhookTimeout:        10 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

// TestBlankMeansDefault: a variable set to spaces is treated as unset.
func TestBlankMeansDefault(t *testing.T) {
	t.Parallel()
	got, err := Load(env(map[string]string{
		"WACARD_ADDR":               "  ",
		"WACARD_WORKER_CONCURRENCY": " ",
		"WACARD_STATUS_RETENTION":   "\t",
		"WACARD_SANDBOX_DEVICES":    " , ,",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Addr != ":3000" || got.WorkerConcurrency != 4 || got.StatusRetention != 7*24*time.Hour || got.SandboxDevices != nil {
		t.Errorf("blank values did not fall back to defaults: %+v", got)
	}
}

func TestEveryVariable(t *testing.T) {
	t.Parallel()
	got, err := Load(env(map[string]string{
		"WACARD_ADDR":                 "127.0.0.1:8080",
		"WACARD_METRICS_ADDR":         " :9999 ",
		"WACARD_REDIS_URL":            "rediss://user:pw@redis.internal:6380/2",
		"WACARD_REDIS_PREFIX":         "prod:",
		"WACARD_DATA_DIR":             "/var/lib/wacard",
		"WACARD_DATABASE_URL":         "postgres://wacard@db/wacard?sslmode=disable",
		"WACARD_PUBLIC_URL":           "https://wacard.example.com/",
		"WACARD_SANDBOX_DEVICES":      " demo, ci-1 ,,test_2.a",
		"WACARD_SANDBOX_FAIL_SUFFIX":  "13",
		"WACARD_SANDBOX_FLAKY_SUFFIX": "42",
		"WACARD_WORKER_ID":            "worker-7",
		"WACARD_WORKER_CONCURRENCY":   "16",
		"WACARD_MAX_RETRY":            "0",
		"WACARD_STATUS_RETENTION":     "72h",
		"WACARD_IDEMPOTENCY_WINDOW":   "90m",
		"WACARD_MAX_BODY_BYTES":       "2048",
		"WACARD_SEND_TIMEOUT":         "45s",
		"WACARD_OFFLINE_GRACE":        "2h30m",
		"WACARD_LOG_FORMAT":           "json",
		"WACARD_LOG_LEVEL":            "debug",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		Addr:                  "127.0.0.1:8080",
		MetricsAddr:           ":9999",
		RedisURL:              "rediss://user:pw@redis.internal:6380/2",
		RedisPrefix:           "prod:",
		DataDir:               "/var/lib/wacard",
		DatabaseURL:           "postgres://wacard@db/wacard?sslmode=disable",
		PublicURL:             "https://wacard.example.com",
		SandboxDevices:        []string{"demo", "ci-1", "test_2.a"},
		SandboxFailSuffix:     "13",
		SandboxFlakySuffix:    "42",
		WorkerID:              "worker-7",
		WorkerConcurrency:     16,
		MaxRetry:              0,
		StatusRetention:       72 * time.Hour,
		IdempotencyWindow:     90 * time.Minute,
		MaxBodyBytes:          2048,
		MaxBatchItems:         10000,
		MaxBatchBytes:         32 << 20,
		SendTimeout:           45 * time.Second,
		OfflineGrace:          150 * time.Minute,
		LeaseTTL:              15 * time.Second,
		TimelockPause:         15 * time.Minute,
		SandboxDeliveredAfter: 2 * time.Second,
		SandboxReadAfter:      5 * time.Second,
		SandboxLoginAfter:     6 * time.Second,
		SandboxTimelockSuffix: "4630",
		WorkerCapacity:        1000,
		AdminReadOnly:         true,
		LogFormat:             "json",
		LogPhones:             "mask",
		LogLevel:              "debug",
		WebhookMaxRetry:       12,
		WebhookTimeout:        10 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, want)
	}
}

// TestValidValues covers accepted values at the edges of each rule.
func TestValidValues(t *testing.T) {
	t.Parallel()
	tests := []map[string]string{
		{"WACARD_ADDR": "[::1]:0"},
		{"WACARD_REDIS_URL": "unix:///run/redis.sock"},
		{"WACARD_REDIS_URL": "redis://localhost"},
		{"WACARD_DATABASE_URL": "postgresql://u@h/d"},
		{"WACARD_PUBLIC_URL": "http://localhost:3000"},
		{"WACARD_SANDBOX_DEVICES": strings.Repeat("x", 64)},
		{"WACARD_WORKER_CONCURRENCY": "1"},
		{"WACARD_WORKER_CONCURRENCY": "64"},
		{"WACARD_MAX_RETRY": "100"},
		{"WACARD_STATUS_RETENTION": "1m"},
		{"WACARD_IDEMPOTENCY_WINDOW": "1s"},
		{"WACARD_MAX_BODY_BYTES": "1024"},
		{"WACARD_SEND_TIMEOUT": "1s"},
		{"WACARD_OFFLINE_GRACE": "1s"},
		{"WACARD_LOG_FORMAT": "text"},
		{"WACARD_LOG_LEVEL": "warn"},
		{"WACARD_LOG_LEVEL": "error"},
		{"WACARD_API_KEYS": "0123456789abcdef"},
		{"WACARD_API_KEYS": "0123456789abcdef:sales,support \n  fedcba9876543210"},
		{"WACARD_OPS_ADDR": "127.0.0.1:9092"},
	}
	for _, m := range tests {
		if _, err := Load(env(m)); err != nil {
			t.Errorf("Load(%v): %v", m, err)
		}
	}
}

func TestInvalidValues(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, value string }{
		{"WACARD_ADDR", "nope"},
		{"WACARD_ADDR", "localhost"},
		{"WACARD_METRICS_ADDR", "9091"},
		{"WACARD_REDIS_URL", "http://x"},
		{"WACARD_REDIS_URL", "127.0.0.1:6379"},
		{"WACARD_REDIS_URL", "redis://%zz"},
		{"WACARD_REDIS_PREFIX", "a b"},
		{"WACARD_REDIS_PREFIX", "{wacard}"},
		{"WACARD_DATABASE_URL", "mysql://x"},
		{"WACARD_DATABASE_URL", "postgres://%zz"},
		{"WACARD_PUBLIC_URL", "notaurl"},
		{"WACARD_PUBLIC_URL", "/relative/path"},
		{"WACARD_PUBLIC_URL", "https://"},
		{"WACARD_SANDBOX_DEVICES", "ok,bad id"},
		{"WACARD_SANDBOX_DEVICES", "ok," + strings.Repeat("x", 65)},
		{"WACARD_SANDBOX_DEVICES", "démo"},
		{"WACARD_WORKER_ID", "two words"},
		{"WACARD_WORKER_CONCURRENCY", "0"},
		{"WACARD_WORKER_CONCURRENCY", "65"},
		{"WACARD_WORKER_CONCURRENCY", "-1"},
		{"WACARD_WORKER_CONCURRENCY", "abc"},
		{"WACARD_WORKER_CONCURRENCY", "4.5"},
		{"WACARD_MAX_RETRY", "-1"},
		{"WACARD_MAX_RETRY", "101"},
		{"WACARD_MAX_RETRY", "many"},
		{"WACARD_STATUS_RETENTION", "5"},
		{"WACARD_STATUS_RETENTION", "59s"},
		{"WACARD_STATUS_RETENTION", "7d"},
		{"WACARD_IDEMPOTENCY_WINDOW", "500ms"},
		{"WACARD_IDEMPOTENCY_WINDOW", "-1h"},
		{"WACARD_MAX_BODY_BYTES", "1023"},
		{"WACARD_MAX_BODY_BYTES", "1MB"},
		{"WACARD_SEND_TIMEOUT", "0s"},
		{"WACARD_SEND_TIMEOUT", "soon"},
		{"WACARD_OFFLINE_GRACE", "999ms"},
		{"WACARD_LOG_FORMAT", "xml"},
		{"WACARD_LOG_FORMAT", "JSON"},
		{"WACARD_LOG_LEVEL", "trace"},
		{"WACARD_API_KEYS", "short"},
		{"WACARD_API_KEYS", "0123456789abcdef:"},
		{"WACARD_API_KEYS", "0123456789abcdef:bad/id"},
		{"WACARD_API_KEYS", "0123456789abcdef 0123456789abcdef:sales"},
		{"WACARD_API_KEYS", "0123456789abcdef\x7f"},
		{"WACARD_OPS_ADDR", "9092"},
		{"WACARD_OPS_ADDR", ":3000"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, err := Load(env(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatalf("Load accepted %s=%q", tt.name, tt.value)
			}
			// Exactly one complaint, and it names the variable it is about.
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.name+": ") {
				t.Errorf("error = %q, want one line starting %q", err, tt.name+": ")
			}
		})
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"WACARD_ADDR":               "nope",
		"WACARD_REDIS_URL":          "http://x",
		"WACARD_WORKER_CONCURRENCY": "abc",
		"WACARD_MAX_RETRY":          "1000",
		"WACARD_STATUS_RETENTION":   "5",
		"WACARD_LOG_FORMAT":         "xml",
		"WACARD_PUBLIC_URL":         "notaurl",
	}
	c, err := Load(env(bad))
	if err == nil {
		t.Fatal("Load accepted several bad values")
	}
	if !reflect.DeepEqual(c, Config{}) {
		t.Errorf("Load returned a config along with its error: %+v", c)
	}
	msg := err.Error()
	for name := range bad {
		if !strings.Contains(msg, name+": ") {
			t.Errorf("error does not mention %s:\n%s", name, msg)
		}
	}
	if n := len(strings.Split(msg, "\n")); n != len(bad) {
		t.Errorf("error has %d lines, want one per bad variable (%d):\n%s", n, len(bad), msg)
	}
}

// TestValidateDirect covers rules the environment cannot reach, since an
// empty variable means its default.
func TestValidateDirect(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c.DataDir = ""
	c.RedisPrefix = ""
	c.WorkerID = ""
	c.MetricsAddr = "" // allowed: no metrics listener
	err = c.Validate()
	if err == nil {
		t.Fatal("Validate accepted empty required fields")
	}
	for _, name := range []string{"WACARD_DATA_DIR", "WACARD_REDIS_PREFIX", "WACARD_WORKER_ID"} {
		if !strings.Contains(err.Error(), name+": ") {
			t.Errorf("error does not mention %s:\n%v", name, err)
		}
	}
	if strings.Contains(err.Error(), "WACARD_METRICS_ADDR") {
		t.Errorf("an empty WACARD_METRICS_ADDR was refused:\n%v", err)
	}
}

func TestValidDeviceID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id string
		ok bool
	}{
		{"a", true},
		{"shop", true},
		{"Shop-1_b.2", true},
		{"0", true},
		{"...", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"bad id", false},
		{"a/b", false},
		{"a:b", false},
		{"a@b", false},
		{"a{b}", false},
		{"a\nb", false},
		{"démo", false},
		{"日本", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		err := ValidDeviceID(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidDeviceID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}

// TestWebhookVariables covers WACARD_WEBHOOK_*: the URL list syntax, and the
// secret the URLs require. Each bad environment gets one error naming its variable.
func TestWebhookVariables(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef"
	ok := []struct {
		env  map[string]string
		want string // the endpoints, as Endpoint.String writes them, space separated
	}{
		{map[string]string{}, ""},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook", "WACARD_WEBHOOK_SECRET": secret}, "https://a.example/hook"},
		{map[string]string{"WACARD_WEBHOOK_URLS": " https://a.example/hook \n http://b.example:8080/h?x=1|message.failed,batch.completed ", "WACARD_WEBHOOK_SECRET": secret},
			"https://a.example/hook http://b.example:8080/h?x=1|message.failed,batch.completed"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook|message.sent,https://b.example/hook", "WACARD_WEBHOOK_SECRET": secret},
			"https://a.example/hook|message.sent https://b.example/hook"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://u:pw@a.example/hook", "WACARD_WEBHOOK_SECRET": secret}, "https://u:xxxxx@a.example/hook"},
		{map[string]string{"WACARD_WEBHOOK_SECRET": secret, "WACARD_WEBHOOK_MAX_RETRY": "0", "WACARD_WEBHOOK_TIMEOUT": "5m"}, ""},
	}
	for _, tt := range ok {
		c, err := Load(env(tt.env))
		if err != nil {
			t.Errorf("Load(%v): %v", tt.env, err)
			continue
		}
		var got []string
		for _, e := range c.WebhookEndpoints {
			got = append(got, e.String())
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("Load(%v) endpoints %q, want %q", tt.env, got, tt.want)
		}
	}
	bad := []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook"}, "WACARD_WEBHOOK_SECRET"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook", "WACARD_WEBHOOK_SECRET": "short"}, "WACARD_WEBHOOK_SECRET"},
		{map[string]string{"WACARD_WEBHOOK_SECRET": "short"}, "WACARD_WEBHOOK_SECRET"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "ftp://a.example/hook", "WACARD_WEBHOOK_SECRET": secret}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "a.example/hook"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https:///nohost"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook#frag"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook|message.snet"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook|"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook|message.sent,,message.read"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook https://a.example/hook|message.read"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/%zz"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_URLS": "https://u:pw@a.example/hook|message.snet"}, "WACARD_WEBHOOK_URLS"},
		{map[string]string{"WACARD_WEBHOOK_MAX_RETRY": "-1"}, "WACARD_WEBHOOK_MAX_RETRY"},
		{map[string]string{"WACARD_WEBHOOK_MAX_RETRY": "101"}, "WACARD_WEBHOOK_MAX_RETRY"},
		{map[string]string{"WACARD_WEBHOOK_MAX_RETRY": "lots"}, "WACARD_WEBHOOK_MAX_RETRY"},
		{map[string]string{"WACARD_WEBHOOK_TIMEOUT": "500ms"}, "WACARD_WEBHOOK_TIMEOUT"},
		{map[string]string{"WACARD_WEBHOOK_TIMEOUT": "6m"}, "WACARD_WEBHOOK_TIMEOUT"},
		{map[string]string{"WACARD_WEBHOOK_TIMEOUT": "10"}, "WACARD_WEBHOOK_TIMEOUT"},
	}
	for _, tt := range bad {
		_, err := Load(env(tt.env))
		if err == nil {
			t.Errorf("Load accepted %v", tt.env)
			continue
		}
		if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], tt.name+": ") {
			t.Errorf("Load(%v) = %q, want one line starting %q", tt.env, err, tt.name+": ")
		}
		if strings.Contains(err.Error(), "pw@") {
			t.Errorf("error shows a URL password: %v", err)
		}
	}
	c, err := Load(env(map[string]string{"WACARD_WEBHOOK_URLS": "https://a.example/hook", "WACARD_WEBHOOK_SECRET": secret}))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.WebhookSecret) != secret {
		t.Fatalf("secret %q", string(c.WebhookSecret))
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, c); strings.Contains(out, secret) {
			t.Errorf("Sprintf(%q, config) shows the webhook secret: %s", f, out)
		}
	}
}
