package whatsapp

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// spy records whether it was formatted.
type spy struct{ called *bool }

func (s spy) String() string { *s.called = true; return "spy" }

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))

	formatted := false
	l.Debugf("frame %v", spy{&formatted}) // below the level: dropped unformatted
	l.Infof("hello %s", "world")
	sub := l.Sub("Client")
	sub.Warnf("retry %d", 3)
	sub.Sub("Socket").Errorf("dial %s: %v", "x", "refused")

	if formatted {
		t.Error("a disabled debug message was formatted")
	}

	type line struct {
		Level  string `json:"level"`
		Msg    string `json:"msg"`
		Module string `json:"module"`
	}
	want := []line{
		{Level: "INFO", Msg: "hello world"},
		{Level: "WARN", Msg: "retry 3", Module: "Client"},
		{Level: "ERROR", Msg: "dial x: refused", Module: "Client/Socket"},
	}
	dec := json.NewDecoder(&buf)
	for i, w := range want {
		var got line
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got != w {
			t.Errorf("line %d = %+v, want %+v", i, got, w)
		}
	}
	if dec.More() {
		t.Error("more log lines than expected")
	}
}

func TestNewLoggerDebugAndNil(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Sub("A").Sub("B").Debugf("n=%d", 1)
	if got := buf.String(); !strings.Contains(got, `level=DEBUG msg="n=1" module=A/B`) {
		t.Errorf("debug line = %q", got)
	}

	// A nil logger discards, including through Sub.
	n := NewLogger(nil)
	n.Sub("X").Errorf("dropped %d", 1)
}
