package main

import (
	"flag"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/conf"
)

// optionError turns the flag package's complaint about args into the one
// line GNU tools print: "unknown option --polcy (did you mean --policy?)",
// "option --policy needs an argument". The option is named as the user
// spelled it (one dash or two).
func optionError(fs *flag.FlagSet, args []string, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		spelled := spelling(args, name)
		if s := suggest(fs, name); s != "" {
			return fmt.Errorf("unknown option %s (did you mean %s?)", spelled, s)
		}
		return fmt.Errorf("unknown option %s", spelled)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("option %s needs an argument", spelling(args, name))
	}
	// invalid value "x" for flag -y: ...
	if rest, ok := strings.CutPrefix(msg, "invalid boolean value "); ok {
		if val, name, ok := strings.Cut(rest, " for -"); ok {
			name, _, _ = strings.Cut(name, ":")
			return fmt.Errorf("option %s takes no value, got %s", spelling(args, name), val)
		}
	}
	return err
}

// spelling returns how args spelled option name: "-x" or "--xyz".
func spelling(args []string, name string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		a, _, _ = strings.Cut(a, "=")
		if strings.TrimLeft(a, "-") == name && strings.HasPrefix(a, "-") {
			return a
		}
	}
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the option of fs nearest to name ("--policy"), or "" when
// none is near enough to be what was meant.
func suggest(fs *flag.FlagSet, name string) string {
	best, bestDist := "", 0
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) < 2 {
			return // short options are no useful suggestion for a long typo
		}
		d := conf.EditDistance(name, f.Name)
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = 1 // an unambiguous start of an option is a likely meaning
		}
		if best == "" || d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	// At most a third of the letters wrong, and never all of a short name.
	if best == "" || bestDist > max(1, len(name)/3) {
		return ""
	}
	return "--" + best
}

// versionString is the version to print: the one set at build time by the
// Makefile, else what the Go toolchain recorded of the module or of the
// version-control checkout it was built from (a plain `go build`).
func versionString() string {
	if version != "dev" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return version
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return "dev-" + rev
}
