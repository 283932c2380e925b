package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/launch"
)

// TestRun: what run answers before it would start anything: help,
// version, and the errors of the launch path, each on one line.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(pol, []byte("[[connect]]\ndestination = \"10.0.0.0/8\"\nsources = [\"127.0.0.1\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.toml")
	tests := []struct {
		args   []string
		code   int
		err    string // "" for none
		stdout string // a prefix
	}{
		{args: []string{"--help"}, stdout: "Usage: vipa-exec [OPTIONS]"},
		{args: []string{"--version"}, stdout: "vipa-exec "},
		{args: nil, code: exitUsage, err: "no PROGRAM given (see vipa-exec --help)"},
		{args: []string{"--log-level", "verbose", "true"}, code: exitUsage, err: `--log-level "verbose": want error, warn, info or debug (see vipa-exec --help)`},
		{args: []string{"--log-format", "xml", "true"}, code: exitUsage, err: `--log-format "xml": want text or json (see vipa-exec --help)`},
		{args: []string{"--supervise", "both", "true"}, code: exitUsage, err: `--supervise "both": want auto, detached or parent (see vipa-exec --help)`},
		{args: []string{"-p", missing, "true"}, code: exitUsage, err: missing + ": policy file not found (named by --policy)"},
		{args: []string{"-p", pol, "-u", "no-such-user.invalid", "true"}, code: exitUsage, err: "--user no-such-user.invalid: "},
		{args: []string{"-p", pol, "-g", "no-such-group.invalid", "true"}, code: exitUsage, err: "--group no-such-group.invalid: no such group"},
		{args: []string{"-p", pol, "no-such-program.invalid"}, code: exitNotFound, err: `exec: "no-such-program.invalid": executable file not found in $PATH`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d (%v)", code, tt.code, err)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err) || strings.Contains(oneLine(err), "\n")):
				t.Errorf("error %v, want %q", err, tt.err)
			}
			if !strings.HasPrefix(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q, want it to start with %q", stdout.String(), tt.stdout)
			}
		})
	}
}

// TestLookupCredential: --user takes the user's groups, --group alone
// clears them, and a number not in the database is a uid only with --group.
func TestLookupCredential(t *testing.T) {
	tests := []struct {
		user, group string
		want        *launch.Credential // nil with err: an error
		err         string
	}{
		{"", "", nil, ""},
		{"", "0", &launch.Credential{GID: 0, SetGID: true}, ""},
		{"4242424", "0", &launch.Credential{UID: 4242424, SetUID: true, GID: 0, SetGID: true, Groups: []uint32{0}}, ""},
		{"4242424", "", nil, "--user 4242424: no such user in the user database; give --group too"},
		{"", "no-such-group.invalid", nil, "--group no-such-group.invalid: no such group"},
		{"", "4242424", &launch.Credential{GID: 4242424, SetGID: true}, ""},
	}
	for _, tt := range tests {
		c, err := lookupCredential(tt.user, tt.group)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("lookupCredential(%q, %q) = %+v, %v; want %q", tt.user, tt.group, c, err, tt.err)
			}
			continue
		}
		if err != nil || (c == nil) != (tt.want == nil) || c != nil && (c.UID != tt.want.UID || c.SetUID != tt.want.SetUID ||
			c.GID != tt.want.GID || c.SetGID != tt.want.SetGID || !slices.Equal(c.Groups, tt.want.Groups)) {
			t.Errorf("lookupCredential(%q, %q) = %+v, %v; want %+v", tt.user, tt.group, c, err, tt.want)
		}
	}
	// root by name and by number: uid 0, its primary group first.
	for _, name := range []string{"root", "0"} {
		c, err := lookupCredential(name, "")
		if err != nil || c.UID != 0 || !c.SetUID || !c.SetGID || len(c.Groups) == 0 || c.Groups[0] != c.GID {
			t.Errorf("lookupCredential(%q) = %+v, %v", name, c, err)
		}
	}
}
