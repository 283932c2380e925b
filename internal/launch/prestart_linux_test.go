//go:build linux && cgo

package launch

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// TestPrestartWanted checks the constructor's reading of vipa-exec's
// command line: a detached supervisor is pre-started for a PROGRAM, and
// for nothing else.
func TestPrestartWanted(t *testing.T) {
	for _, tc := range []struct {
		args string // split on spaces
		want bool
	}{
		{"true", true},
		{"-p P true", true},
		{"--policy P true", true},
		{"-p=P --engine bpf -u nobody -g nogroup --log-level debug --log-format json true", true},
		{"--supervise detached -p P true", true},
		{"--supervise=auto true", true},
		{"-- true", true},
		{"-p P -- --version", true}, // PROGRAM is --version
		{"- x", true},               // PROGRAM is -
		{"true --version", true},    // PROGRAM's option
		{"", false},
		{"-p P", false}, // no PROGRAM
		{"-p", false},
		{"--", false},
		{"--version", false},
		{"-version", false},
		{"--help", false},
		{"-h", false},
		{"--check -p P", false},
		{"--check=true", false},
		{"-p P --explain 10.0.0.1", false},
		{"--convert F", false},
		{"--status", false},
		{"--status 12 --json", false},
		{"--protocol udp true", false},
		{"--supervise parent true", false},
		{"--supervise=parent -p P true", false},
		{"-supervise parent true", false},
		{"--frobnicate true", false},
		{"---p P true", false},
		{"--" + strings.Repeat("x", 40) + "=1 true", false},
	} {
		args := strings.Fields(tc.args)
		if got := prestartWanted(args); got != tc.want {
			t.Errorf("vipa-exec %s: pre-start %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestSupervisorEnvFrame(t *testing.T) {
	const name = envPrefix + "TEST_FRAME"
	t.Cleanup(func() { _ = os.Unsetenv(name) })
	if err := applyEnv(encodeEnv([]string{name + "=a=b,c", name + "=d"})); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv(name); got != "d" {
		t.Errorf("%s=%q after the frame, want the last entry's d", name, got)
	}
	for _, bad := range [][]byte{
		[]byte("PATH=/x\x00"),           // not ours
		[]byte(stageEnv + "=serve\x00"), // not the launcher's to set
		[]byte(name + "\x00"),           // no =
		[]byte(name + "=x"),             // no NUL
	} {
		if err := applyEnv(bad); err == nil {
			t.Errorf("applyEnv(%q) = nil, want an error", bad)
		}
	}
	if err := applyEnv(nil); err != nil {
		t.Errorf("applyEnv of an empty frame: %v", err)
	}
	// A launcher that closes its socket unused: io.EOF, which the
	// supervisor takes as leave to exit in silence.
	if err := receiveEnv(strings.NewReader("")); !errors.Is(err, io.EOF) {
		t.Errorf("receiveEnv at EOF: %v, want io.EOF", err)
	}
	if err := receiveEnv(strings.NewReader("\x05\x00")); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("receiveEnv of a cut length: %v, want an error other than io.EOF", err)
	}
}
