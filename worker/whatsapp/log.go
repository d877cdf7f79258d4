package whatsapp

import (
	"context"
	"fmt"
	"log/slog"

	waLog "go.mau.fi/whatsmeow/util/log"
)

// slogLogger adapts *slog.Logger to whatsmeow's printf-style waLog.Logger.
type slogLogger struct {
	base   *slog.Logger // without the module attribute, so Sub does not repeat it
	log    *slog.Logger // base plus module
	module string
}

// NewLogger returns a waLog.Logger that writes to l. Sub-loggers add a
// "module" attribute such as "Client/Socket". A nil l discards everything.
func NewLogger(l *slog.Logger) waLog.Logger {
	if l == nil {
		return waLog.Noop
	}
	return &slogLogger{base: l, log: l}
}

func (s *slogLogger) Sub(module string) waLog.Logger {
	if s.module != "" {
		module = s.module + "/" + module
	}
	return &slogLogger{base: s.base, log: s.base.With("module", module), module: module}
}

func (s *slogLogger) Debugf(msg string, args ...any) { s.logf(slog.LevelDebug, msg, args) }
func (s *slogLogger) Infof(msg string, args ...any)  { s.logf(slog.LevelInfo, msg, args) }
func (s *slogLogger) Warnf(msg string, args ...any)  { s.logf(slog.LevelWarn, msg, args) }
func (s *slogLogger) Errorf(msg string, args ...any) { s.logf(slog.LevelError, msg, args) }

// logf formats only when the level is enabled: whatsmeow logs every frame it
// sends and receives at debug level, and formatting those is not free.
func (s *slogLogger) logf(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !s.log.Enabled(ctx, level) {
		return
	}
	s.log.Log(ctx, level, fmt.Sprintf(msg, args...))
}

// orDiscard returns l, or a logger that drops everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
