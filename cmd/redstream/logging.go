package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// Log flag values.
var (
	logFormats = []string{"text", "json"}
	logLevels  = map[string]slog.Level{
		"debug": slog.LevelDebug,
		"info":  slog.LevelInfo,
		"warn":  slog.LevelWarn,
		"error": slog.LevelError,
	}
)

// addLogFlags adds --log-format and --log-level to every command;
// setLogger applies them.
func (a *app) addLogFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&a.logFormat, "log-format", "text", "format of the log lines on stderr: text or json")
	f.StringVar(&a.logLevel, "log-level", "warn", "least severe log level shown: debug, info, warn or error")
}

// setLogger makes the logger the log flags ask for; it runs before every
// command.
func (a *app) setLogger() error {
	l, err := newLogger(a.stderr, a.logFormat, a.logLevel)
	if err != nil {
		return err
	}
	a.logger = l
	return nil
}

// newLogger returns the slog logger the log flags ask for, writing to w.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	lv, ok := logLevels[strings.ToLower(level)]
	if !ok {
		return nil, usagef("--log-level must be debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format must be %s, got %q", strings.Join(logFormats, " or "), format)
}

// log returns the command's logger: the one the log flags configured, or
// the default (text, warn) when no flags were parsed.
func (a *app) log() *slog.Logger {
	if a.logger == nil {
		a.logger, _ = newLogger(a.stderr, "text", "warn")
	}
	return a.logger
}
