package conf

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// ErrNotLegacy is wrapped by the error of [Convert] for a file that is not a
// src_vipa.conf file.
var ErrNotLegacy = errors.New("not a src_vipa.conf file")

// Convert returns the TOML policy file equivalent to the src_vipa.conf file
// data: the same rules, tried in the same order, each below the comments
// that preceded its line and a comment quoting the line. Host names are
// resolved now, since TOML files take addresses only. The warnings are those
// [Read] gives, also written as comments above their rules.
func Convert(ctx context.Context, name string, data []byte, opts Options) ([]byte, []Warning, error) {
	if err := checkLimits(name, data, false); err != nil {
		return nil, nil, err
	}
	if !IsLegacy(data) {
		return nil, nil, &Error{File: name, Line: 1, Msg: "not a src_vipa.conf file (its first rule line is not DEST/MASK or .INADDR_ANY); only those can be converted", Err: ErrNotLegacy}
	}
	lf, err := readLegacy(ctx, name, data, opts)
	if err != nil {
		return nil, nil, err
	}
	if _, err := lf.policy(); err != nil {
		return nil, nil, err
	}
	w := &tomlWriter{}
	w.comment("Converted by vipa-exec --convert from the src_vipa.conf file " + name + ".")
	w.comment("Each rule follows the comments that preceded its line there, and a comment")
	w.comment("quoting the line. /usr/share/doc/vipa-exec/examples/policy.toml (in the")
	w.comment("source, examples/policy.toml) explains every key.")

	warnings := map[int][]string{}
	for _, x := range lf.warnings {
		warnings[x.Line] = append(warnings[x.Line], x.Msg)
	}
	done := map[*legacyRule]bool{}
	// preamble writes what stands above rule r's first table, or alone
	// for a rule that gives no table.
	preamble := func(r *legacyRule) {
		done[r] = true
		w.blank()
		for _, c := range r.before {
			if c == "" {
				w.blank()
			} else {
				w.line(sanitizeComment(c))
			}
		}
		w.comment(fmt.Sprintf("line %d: %s", r.line, r.text))
		for _, m := range warnings[r.line] {
			w.comment("warning: " + m)
		}
	}
	// Rules without a table (every destination overridden by later lines)
	// keep their place in file order.
	hasTable := map[*legacyRule]bool{}
	for _, t := range lf.tables {
		hasTable[t.rule] = true
	}
	next := 0 // lf.rules before it are written or have a table
	flushUntil := func(line int) {
		for ; next < len(lf.rules) && lf.rules[next].line < line; next++ {
			if r := lf.rules[next]; !hasTable[r] && !done[r] {
				preamble(r)
			}
		}
	}
	for _, t := range lf.tables {
		r := t.rule
		if !done[r] {
			flushUntil(r.line)
			preamble(r)
			if len(t.moved) > 0 {
				which := "that of line"
				if len(t.moved) > 1 {
					which = "those of lines"
				}
				w.comment(fmt.Sprintf("This rule comes before %s %s: in src_vipa.conf a later", which, joinInts(t.moved)))
				w.comment(".INADDR_ANY line overrides earlier ones for the ports they share, while")
				w.comment("here the first [[bind]] rule that matches wins.")
			}
			var names []string
			for _, a := range t.sources {
				if n, ok := lf.names[a]; ok && slices.Contains(r.srcToks, n) {
					names = append(names, fmt.Sprintf("%s = %s", n, a))
				}
			}
			if len(names) > 0 {
				w.comment("Resolved when converted: " + strings.Join(names, ", ") + ".")
			}
		} else {
			w.blank()
		}
		w.table(t)
	}
	flushUntil(int(^uint(0) >> 1))
	if len(lf.trailer) > 0 {
		w.blank()
		for _, c := range lf.trailer {
			if c == "" {
				w.blank()
			} else {
				w.line(sanitizeComment(c))
			}
		}
	}
	return []byte(w.String()), lf.warnings, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	if len(s) > 1 {
		return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
	}
	return s[0]
}

// tomlWriter writes lines, never two blank ones in a row nor one first or
// last.
type tomlWriter struct {
	lines []string
}

func (w *tomlWriter) line(s string) { w.lines = append(w.lines, s) }

func (w *tomlWriter) blank() {
	if n := len(w.lines); n > 0 && w.lines[n-1] != "" {
		w.lines = append(w.lines, "")
	}
}

func (w *tomlWriter) comment(s string) { w.line(sanitizeComment("# " + s)) }

func (w *tomlWriter) String() string {
	lines := w.lines
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n") + "\n"
}

// table writes t as a [[connect]] or [[bind]] table, its keys aligned.
func (w *tomlWriter) table(t *legacyTable) {
	kind, m := t.table()
	w.line("[[" + kind + "]]")
	keys := []string{"destination", "ports", "sources", "policy", "rr_mode"}
	width := 0
	for _, k := range keys {
		if _, ok := m[k]; ok {
			width = max(width, len(k))
		}
	}
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			continue
		}
		var s string
		switch v := v.(type) {
		case string:
			s = tomlString(v)
		case []any:
			elems := make([]string, len(v))
			for i, e := range v {
				elems[i] = tomlString(e.(string))
			}
			s = "[" + strings.Join(elems, ", ") + "]"
		}
		w.line(fmt.Sprintf("%-*s = %s", width, k, s))
	}
}

// tomlString quotes s, an address, prefix, port range, policy name or mode:
// printable ASCII, which Go and TOML quote alike.
func tomlString(s string) string { return strconv.Quote(s) }

// sanitizeComment makes s a valid TOML comment: UTF-8, no control
// characters but tab.
func sanitizeComment(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r != '\t' && (r < ' ' || r == 0x7f || unicode.Is(unicode.Cc, r)) {
			return '?'
		}
		return r
	}, s)
}
