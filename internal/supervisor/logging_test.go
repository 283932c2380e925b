package supervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseLogSettings(t *testing.T) {
	tests := []struct {
		level, format string
		want          string // String(), or "" for an error
	}{
		{"warn", "text", "warn,text"},
		{"info", "json", "info,json"},
		{"debug", "text", "debug,text"},
		{"error", "json", "error,json"},
		{"verbose", "text", ""},
		{"info", "xml", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		s, err := ParseLogSettings(tt.level, tt.format)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseLogSettings(%q, %q): no error", tt.level, tt.format)
			}
			continue
		}
		if err != nil || s.String() != tt.want {
			t.Errorf("ParseLogSettings(%q, %q) = %v, %v; want %s", tt.level, tt.format, s, err, tt.want)
		}
		// What the launcher sends, the supervisor reads back.
		t.Setenv(LogEnv, s.String())
		if got := LogSettingsFromEnv(); got != s {
			t.Errorf("round trip of %s: got %s", s, got)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, LogSettings{level: slog.LevelInfo, json: true}, true)
	log.Debug("hidden")
	log.Info("shown", "k", "v")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("one JSON line: %v: %q", err, buf.String())
	}
	if _, ok := m["time"]; ok {
		t.Errorf("journal output has a timestamp: %q", buf.String())
	}
	if m["msg"] != "shown" || m["k"] != "v" {
		t.Errorf("got %q", buf.String())
	}
	buf.Reset()
	newLogger(&buf, LogSettings{level: slog.LevelWarn}, false).Warn("w")
	if !strings.HasPrefix(buf.String(), "time=") {
		t.Errorf("text output outside the journal should have time first: %q", buf.String())
	}
}

func TestToJournal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if !toJournal(f, fmt.Sprintf("%d:%d", st.Dev, st.Ino)) {
		t.Error("the stream JOURNAL_STREAM names is not recognised")
	}
	if toJournal(f, fmt.Sprintf("%d:%d", st.Dev, st.Ino+1)) || toJournal(f, "") {
		t.Error("another stream is taken for the journal")
	}
}
