package supervisor

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// LogEnv carries --log-level and --log-format to a detached supervisor,
// which logs on vipa-exec's stderr; it is set only in the supervisor's
// environment, by its first frame from the launcher
// (launch.Options.SupervisorEnv): the supervisor may start before the
// options are parsed.
const LogEnv = "_VIPA_EXEC_LOG"

// LogSettings are the supervisor's logging options.
type LogSettings struct {
	level slog.Level
	json  bool
}

var logLevels = map[string]slog.Level{
	"error": slog.LevelError, "warn": slog.LevelWarn, "info": slog.LevelInfo, "debug": slog.LevelDebug,
}

// ParseLogSettings checks --log-level and --log-format.
func ParseLogSettings(level, format string) (LogSettings, error) {
	var s LogSettings
	l, ok := logLevels[level]
	if !ok {
		return s, fmt.Errorf("--log-level %q: want error, warn, info or debug", level)
	}
	s.level = l
	switch format {
	case "text":
	case "json":
		s.json = true
	default:
		return s, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return s, nil
}

// String is the form LogEnv carries: "LEVEL,FORMAT".
func (s LogSettings) String() string {
	format := "text"
	if s.json {
		format = "json"
	}
	return strings.ToLower(s.level.String()) + "," + format
}

// LogSettingsFromEnv reads LogEnv; anything unreadable means the default.
func LogSettingsFromEnv() LogSettings {
	level, format, _ := strings.Cut(os.Getenv(LogEnv), ",")
	s, err := ParseLogSettings(level, format)
	if err != nil {
		return LogSettings{level: slog.LevelWarn}
	}
	return s
}

// newLogger logs to w (stderr). When $JOURNAL_STREAM says stderr is the
// systemd journal's stream, lines carry no timestamp: the journal adds its
// own.
func newLogger(w io.Writer, s LogSettings, journal bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: s.level}
	if journal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if s.json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// toJournal reports whether f is the stream $JOURNAL_STREAM ("DEV:INODE")
// names, as sd_journal_stream_fd(3) documents.
func toJournal(f *os.File, journalStream string) bool {
	if journalStream == "" {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return journalStream == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// oneLine keeps an error message on one line, as every vipa-exec log line is.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// LogEngine logs the launcher's choice of engine and why (the reason of
// ChooseEngine) at info on w, vipa-exec's stderr, as the supervisor logs.
func LogEngine(w io.Writer, s LogSettings, reason string) {
	journal := false
	if f, ok := w.(*os.File); ok {
		journal = toJournal(f, os.Getenv("JOURNAL_STREAM"))
	}
	newLogger(w, s, journal).Info(reason)
}
