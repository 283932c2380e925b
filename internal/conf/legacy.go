package conf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// Errors wrapped by the [*Error] of a src_vipa.conf file, besides those it
// shares with TOML files.
var (
	ErrLegacySyntax = errors.New("invalid src_vipa.conf line")
	ErrResolve      = errors.New("cannot resolve host name")
)

// Resolver looks up the host names of src_vipa.conf files; *net.Resolver
// is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// defaultResolver is Go's. The package's tests replace it, so that no test
// (the fuzzer least of all) asks a DNS server.
var defaultResolver Resolver = net.DefaultResolver

// Options tune [Read].
type Options struct {
	// Resolver looks up the host names of src_vipa.conf files; nil means
	// Go's resolver (/etc/hosts, then DNS).
	Resolver Resolver
}

// Format is the syntax of a policy file, told from its contents.
type Format int

const (
	FormatTOML   Format = iota // vipa-exec's own
	FormatLegacy               // src_vipa 2.x's src_vipa.conf
)

func (f Format) String() string {
	if f == FormatLegacy {
		return "src_vipa.conf"
	}
	return "TOML"
}

// Result is a policy file read by [Read].
type Result struct {
	Policy *policy.Policy
	Format Format
	// Warnings are what vipa-exec worked around, in line order; only
	// src_vipa.conf files have any.
	Warnings []Warning
	// Names maps each source that was written as a host name to that
	// name.
	Names map[netip.Addr]string
	// Hosts is what each host name resolved to. Read with
	// [StaticResolver](Hosts), the same file gives the same policy without
	// asking anyone: the launcher hands it to the supervisor, so that a
	// DNS answer that changed in between cannot put an unchecked source in
	// force.
	Hosts map[string][]netip.Addr
}

// StaticResolver answers from hosts alone; any other name fails.
func StaticResolver(hosts map[string][]netip.Addr) Resolver { return staticResolver(hosts) }

type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if as, ok := r[host]; ok {
		return as, nil
	}
	return nil, errors.New("not resolved by the launcher")
}

// Warning is a problem in a policy file that does not stop vipa-exec, such
// as a src_vipa.conf policy that falls back to round robin.
type Warning struct {
	File string
	Line int
	Msg  string
}

// String is the line the launcher prints: "FILE:LINE: warning: MSG".
func (w Warning) String() string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(fmt.Sprintf("%s:%d: warning: %s", w.File, w.Line, w.Msg))
}

// Read reads a policy file of either format, telling them apart by its
// contents (see [IsLegacy]). Host names of a src_vipa.conf file are resolved
// now, with opts.Resolver. Errors are [*Error].
func Read(ctx context.Context, name string, data []byte, opts Options) (*Result, error) {
	legacy := IsLegacy(data)
	if err := checkLimits(name, data, !legacy); err != nil {
		return nil, err
	}
	if !legacy {
		p, err := parseTOML(name, data)
		if err != nil {
			return nil, err
		}
		return &Result{Policy: p, Format: FormatTOML}, nil
	}
	lf, err := readLegacy(ctx, name, data, opts)
	if err != nil {
		return nil, err
	}
	p, err := lf.policy()
	if err != nil {
		return nil, err
	}
	return &Result{Policy: p, Format: FormatLegacy, Warnings: lf.warnings, Names: lf.names, Hosts: lf.hosts}, nil
}

// IsLegacy reports whether data is a src_vipa.conf file rather than TOML:
// its first line that is neither blank nor a comment starts with
// ".INADDR_ANY", a DEST/MASK or an address, and has no "=" (every TOML
// line outside brackets has one).
func IsLegacy(data []byte) bool {
	s := strings.TrimPrefix(string(data), "\ufeff")
	for s != "" {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.Index(line, "#"); i > 0 {
			line = line[:i]
		}
		if strings.ContainsAny(line, `=[]"'{}`) {
			return false
		}
		first := strings.Fields(line)[0]
		if first == ".INADDR_ANY" {
			return true
		}
		// Something like DEST/MASK, but not any word with a slash, such
		// as /etc/passwd's first line, which an error would then quote.
		if dest, mask, ok := strings.Cut(first, "/"); ok {
			return dest != "" && mask != "" && strings.Trim(mask, "0123456789.") == "" &&
				strings.Trim(dest, "0123456789.:%-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
		}
		_, err := netip.ParseAddr(first)
		return err == nil
	}
	return false
}

// legacyFile is a src_vipa.conf file: its rule lines, with what the file
// says around them for --convert, and once resolved the rule tables they
// give.
type legacyFile struct {
	name     string
	rules    []*legacyRule
	trailer  []string // comment and blank lines after the last rule
	tables   []*legacyTable
	warnings []Warning
	names    map[netip.Addr]string
	hosts    map[string][]netip.Addr // what each host name resolved to
}

// legacyRule is one rule line.
type legacyRule struct {
	line    int
	text    string   // as written, without surrounding blanks
	before  []string // the comment and blank lines since the previous rule
	bind    bool     // .INADDR_ANY
	dest    string   // connect: the address or host name before "/"
	bits    int      // connect: MASK
	ports   policy.PortRange
	polTok  string
	srcToks []string

	policy string // vipa-exec's policy name
	rrMode string // rr's rr_mode, "" for the default
}

// legacyTable is one [[connect]] or [[bind]] rule of a src_vipa.conf file: a
// line gives one, or one per address of a destination host name.
type legacyTable struct {
	rule    *legacyRule
	prefix  netip.Prefix // connect
	sources []netip.Addr
	moved   []int // bind: lines of earlier rules this one now precedes
}

func (lf *legacyFile) errorf(line int, key string, err error, format string, args ...any) *Error {
	return &Error{File: lf.name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...), Err: err}
}

func (lf *legacyFile) warnf(line int, format string, args ...any) {
	lf.warnings = append(lf.warnings, Warning{File: lf.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// readLegacy parses, resolves and orders a src_vipa.conf file.
func readLegacy(ctx context.Context, name string, data []byte, opts Options) (*legacyFile, error) {
	lf, err := parseLegacy(name, data)
	if err != nil {
		return nil, err
	}
	r := opts.Resolver
	if r == nil {
		r = defaultResolver
	}
	if err := lf.resolve(ctx, r); err != nil {
		return nil, err
	}
	lf.order()
	slices.SortStableFunc(lf.warnings, func(a, b Warning) int { return a.Line - b.Line })
	return lf, nil
}

// The policies of src_vipa 2.x, for messages.
const legacyPolicies = "onevipa, random, lrr, rr:ABC, lc"

// parseLegacy splits a src_vipa.conf file into rule lines, checking their
// shape; names are resolved later.
//
// src_vipa skipped (and logged) a line it could not read; vipa-exec stops at
// it instead, like at any other policy error. It is more lenient where
// leniency cannot change a valid file's meaning: lines may be indented and
// end in a "# comment".
func parseLegacy(name string, data []byte) (*legacyFile, error) {
	lf := &legacyFile{name: name, names: map[netip.Addr]string{}, hosts: map[string][]netip.Addr{}}
	var pending []string
	s := strings.TrimPrefix(string(data), "\ufeff")
	for n := 1; s != ""; n++ {
		var raw string
		raw, s, _ = strings.Cut(s, "\n")
		text := strings.TrimSpace(raw)
		if text == "" || text[0] == '#' {
			pending = append(pending, text)
			continue
		}
		r, err := lf.parseLine(n, text)
		if err != nil {
			return nil, err
		}
		r.before, pending = pending, nil
		lf.rules = append(lf.rules, r)
	}
	lf.trailer = pending
	return lf, nil
}

func (lf *legacyFile) parseLine(n int, text string) (*legacyRule, *Error) {
	r := &legacyRule{line: n, text: text}
	body := text
	for i := 1; i < len(body); i++ {
		// A comment starts a word; "#" inside one is the word's.
		if body[i] == '#' && isBlank(body[i-1]) {
			body = body[:i]
			break
		}
	}
	f := strings.Fields(body)
	shape := func(format string, args ...any) *Error {
		return lf.errorf(n, "", ErrLegacySyntax, format, args...)
	}
	if f[0] == ".INADDR_ANY" {
		r.bind = true
		if len(f) < 2 {
			return nil, shape("want .INADDR_ANY PORT[-PORT] POLICY SOURCE...")
		}
		pr, err := policy.ParsePortRange(f[1])
		if err != nil || strings.TrimSpace(f[1]) != f[1] {
			return nil, lf.errorf(n, "ports", policy.ErrInvalidPorts, "%q is not a port or a range P1-P2 of ports 0-65535, like 6000-6999", f[1])
		}
		r.ports = pr
		f = f[2:]
	} else {
		dest, mask, ok := strings.Cut(f[0], "/")
		if !ok {
			if _, err := netip.ParseAddr(f[0]); err == nil {
				return nil, lf.errorf(n, "destination", policy.ErrInvalidDestination, "%q has no /MASK; write %s/32 for one host", f[0], f[0])
			}
			return nil, shape("want DEST/MASK POLICY SOURCE..., .INADDR_ANY PORTS POLICY SOURCE... or a # comment")
		}
		bits, err := strconv.Atoi(mask)
		if err != nil || bits < 0 || bits > 128 || strings.Trim(mask, "0123456789") != "" {
			return nil, lf.errorf(n, "destination", policy.ErrInvalidDestination, "%q: MASK must be the number of bits of the network part, like 10.0.0.0/8", f[0])
		}
		if a, err := netip.ParseAddr(dest); err == nil {
			if bits > a.BitLen() {
				return nil, lf.errorf(n, "destination", policy.ErrInvalidDestination, "%q: an %s mask has at most %d bits", f[0], family(a), a.BitLen())
			}
		} else if !isHostName(dest) {
			return nil, lf.errorf(n, "destination", policy.ErrInvalidDestination, "%q is not an address or host name with a /MASK, like 10.0.0.0/8", f[0])
		}
		r.dest, r.bits = dest, bits
		f = f[1:]
	}
	if len(f) == 0 {
		return nil, lf.errorf(n, "policy", ErrMissingKey, "missing POLICY (%s) and sources", legacyPolicies)
	}
	r.polTok, r.srcToks = f[0], f[1:]
	if _, err := netip.ParseAddr(r.polTok); err == nil || strings.Contains(r.polTok, ".") {
		// src_vipa 1.x lines had no policy; 2.x would take the first
		// source for an unknown policy and lose it.
		return nil, lf.errorf(n, "policy", ErrMissingKey, "missing POLICY before the sources (%s); a src_vipa 1.x line needs one, like onevipa", legacyPolicies)
	}
	if len(r.srcToks) == 0 {
		return nil, lf.errorf(n, "sources", ErrMissingKey, "no source after the policy %s", r.polTok)
	}
	for _, tok := range r.srcToks {
		if _, err := netip.ParseAddr(tok); err != nil && !isHostName(tok) {
			return nil, lf.errorf(n, "sources", policy.ErrInvalidSource, "%q is not an IP address or host name", tok)
		}
	}
	var ok bool
	if r.policy, r.rrMode, ok = legacyPolicy(r.polTok); !ok {
		lf.warnf(n, "policy %q is not one of %s; using round robin (rr), as src_vipa does", r.polTok, legacyPolicies)
	}
	return r, nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// isHostName reports whether s can be a host name to look up: src_vipa's
// characters (letters, digits, ".", "_", "-"), at least one letter, so that
// a mistyped address such as 192.0.2.300 is not sent to DNS.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '-' || s[0] == '.' {
		return false
	}
	letter := false
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
			letter = true
		case '0' <= c && c <= '9', c == '.', c == '-':
		default:
			return false
		}
	}
	return letter
}

// legacyPolicy maps a src_vipa 2.x policy to vipa-exec's name and rr_mode.
// ok is false for a policy src_vipa could not parse, which becomes round
// robin with the default mode.
func legacyPolicy(tok string) (name, rrMode string, ok bool) {
	switch tok {
	case policy.OneVIPA, policy.Random, "lrr", "lc":
		return tok, "", true
	}
	if perm, found := strings.CutPrefix(tok, "rr:"); found && len(perm) == 3 && strings.Trim(perm, "01234567") == "" {
		return "rr", "0" + perm, true
	}
	return "rr", "", false
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// host is one resolved address or host name token.
type host struct {
	tok    string
	name   bool
	v4, v6 []netip.Addr
}

func (h host) of(v6 bool) []netip.Addr {
	if v6 {
		return h.v6
	}
	return h.v4
}

// resolve looks up every host name, once each, and builds the tables.
func (lf *legacyFile) resolve(ctx context.Context, r Resolver) error {
	cache := map[string]host{}
	lookup := func(line int, key, tok string) (host, *Error) {
		if a, err := netip.ParseAddr(tok); err == nil {
			h := host{tok: tok}
			if a.Is4() {
				h.v4 = []netip.Addr{a}
			} else {
				h.v6 = []netip.Addr{a}
			}
			return h, nil
		}
		if h, ok := cache[tok]; ok {
			return h, nil
		}
		addrs, err := r.LookupNetIP(ctx, "ip", tok)
		if err == nil && len(addrs) == 0 {
			err = errors.New("no address")
		}
		if err != nil {
			return host{}, lf.errorf(line, key, fmt.Errorf("%w %s: %w", ErrResolve, tok, err), "cannot resolve %q: %v", tok, err)
		}
		h := host{tok: tok, name: true}
		for _, a := range addrs {
			// LookupNetIP gives IPv4 as ::ffff:a.b.c.d.
			a = a.Unmap().WithZone("")
			if a.Is4() && !slices.Contains(h.v4, a) {
				h.v4 = append(h.v4, a)
			} else if a.Is6() && !slices.Contains(h.v6, a) {
				h.v6 = append(h.v6, a)
			}
		}
		cache[tok] = h
		lf.hosts[tok] = slices.Concat(h.v4, h.v6)
		return h, nil
	}

	seen := map[netip.Prefix]*legacyTable{}
	for _, rule := range lf.rules {
		srcs := make([]host, len(rule.srcToks))
		for i, tok := range rule.srcToks {
			var err *Error
			if srcs[i], err = lookup(rule.line, "sources", tok); err != nil {
				return err
			}
		}
		has := func(v6 bool) bool {
			return slices.ContainsFunc(srcs, func(h host) bool { return len(h.of(v6)) > 0 })
		}
		if rule.bind {
			// As src_vipa: IPv4 if any source has an IPv4 address.
			as, err := lf.sources(rule, srcs, !has(false), "")
			if err != nil {
				return err
			}
			lf.tables = append(lf.tables, &legacyTable{rule: rule, sources: as})
			continue
		}
		d, err := lookup(rule.line, "destination", rule.dest)
		if err != nil {
			return err
		}
		// As src_vipa: IPv4 if both the destination and a source have an
		// IPv4 address, else IPv6.
		v6 := len(d.v4) == 0 || !has(false)
		if len(d.of(v6)) == 0 || !has(v6) {
			what := "the destination " + rule.dest
			if len(d.v4) > 0 {
				what += " is IPv4"
			} else {
				what += " is IPv6"
			}
			return lf.errorf(rule.line, "sources", policy.ErrFamilyMismatch, "no source of the destination's family: %s", what)
		}
		what := "IPv4 destination"
		if v6 {
			what = "IPv6 destination"
		}
		as, err := lf.sources(rule, srcs, v6, what)
		if err != nil {
			return err
		}
		var tables []*legacyTable
		for _, a := range d.of(v6) {
			if rule.bits > a.BitLen() {
				return lf.errorf(rule.line, "destination", policy.ErrInvalidDestination, "%s/%d: %s resolves to %s, whose mask has at most %d bits", rule.dest, rule.bits, rule.dest, a, a.BitLen())
			}
			p := netip.PrefixFrom(a, rule.bits)
			if m := p.Masked(); m != p {
				if !d.name {
					// src_vipa compares only the first MASK bits.
					lf.warnf(rule.line, "%s has host bits set; it matches %s, as in src_vipa", p, m)
				}
				p = m
			}
			if slices.ContainsFunc(tables, func(t *legacyTable) bool { return t.prefix == p }) {
				continue
			}
			tables = append(tables, &legacyTable{rule: rule, prefix: p, sources: as})
		}
		for _, t := range tables {
			if old := seen[t.prefix]; old != nil {
				// src_vipa looks rules up newest first.
				lf.warnf(old.rule.line, "destination %s is also at line %d, which wins as in src_vipa; this line's rule for it is ignored", t.prefix, rule.line)
				lf.tables = slices.DeleteFunc(lf.tables, func(x *legacyTable) bool { return x == old })
			}
			seen[t.prefix] = t
			lf.tables = append(lf.tables, t)
		}
	}
	return nil
}

// sources returns a rule's sources: each one's first address of the family.
// A source without one is left out, as src_vipa does, with a warning.
func (lf *legacyFile) sources(rule *legacyRule, srcs []host, v6 bool, what string) ([]netip.Addr, *Error) {
	fam := "IPv4"
	if v6 {
		fam = "IPv6"
	}
	if what == "" {
		what = fam + " rule"
	}
	var out []netip.Addr
	for _, h := range srcs {
		as := h.of(v6)
		switch {
		case len(as) == 0 && h.name:
			lf.warnf(rule.line, "source %s has no %s address; it is left out of this %s", h.tok, fam, what)
			continue
		case len(as) == 0:
			lf.warnf(rule.line, "source %s is not %s; it is left out of this %s, as src_vipa does", h.tok, fam, what)
			continue
		}
		a := as[0]
		if a.IsUnspecified() && !rule.bind {
			return nil, lf.errorf(rule.line, "sources", policy.ErrInvalidSource, "%s is a source only of .INADDR_ANY lines, where it leaves the bind on the wildcard address", h.tok)
		}
		if slices.Contains(out, a) {
			if h.name {
				lf.warnf(rule.line, "source %s is %s, which is listed already; vipa-exec uses it once", h.tok, a)
			} else {
				lf.warnf(rule.line, "source %s is listed twice; vipa-exec uses it once", h.tok)
			}
			continue
		}
		out = append(out, a)
		if h.name {
			lf.names[a] = h.tok
		}
	}
	return out, nil
}

// order puts the tables in the order their rules are tried, as close to file
// order as it can. src_vipa fills a table of ports line by line, so a later
// .INADDR_ANY line overrides an earlier one for the ports they share, while
// the first [[bind]] rule that matches wins: a bind rule goes before every
// earlier one it overlaps. Connect rules go by longest prefix anyway.
func (lf *legacyFile) order() {
	n := len(lf.tables)
	overlap := func(i, j int) bool {
		a, b := lf.tables[i].rule, lf.tables[j].rule
		return a.bind && b.bind && a.ports.Lo <= b.ports.Hi && b.ports.Lo <= a.ports.Hi
	}
	// blockers[i]: later tables that overlap i and are not placed yet.
	blockers := make([]int, n)
	for i := range n {
		for j := i + 1; j < n; j++ {
			if overlap(i, j) {
				blockers[i]++
			}
		}
	}
	placed := make([]bool, n)
	out := make([]*legacyTable, 0, n)
	for len(out) < n {
		i := 0
		for placed[i] || blockers[i] > 0 {
			i++
		}
		placed[i] = true
		t := lf.tables[i]
		for j := range i {
			if overlap(j, i) {
				blockers[j]--
				if !placed[j] {
					t.moved = append(t.moved, lf.tables[j].rule.line)
				}
			}
		}
		out = append(out, t)
	}
	lf.tables = out
}

// policy builds the policy through the same checks as a TOML file, every
// error pointing at the rule's line.
func (lf *legacyFile) policy() (*policy.Policy, error) {
	doc, pos := lf.document()
	f := &file{name: lf.name, pos: pos}
	p, err := f.build(doc)
	var e *Error
	if errors.As(err, &e) {
		// A src_vipa.conf line has fields, not TOML keys.
		_, e.Key, _ = strings.Cut(e.Key, ".")
		return nil, e
	}
	return p, err
}

// document is the file as the TOML document it converts to, with every key
// of a table at the table's line.
func (lf *legacyFile) document() (map[string]any, *positions) {
	doc := map[string]any{}
	pos := &positions{top: map[string]int{}, tables: map[string][]*tablePos{}}
	for _, t := range lf.tables {
		kind, m := t.table()
		if _, ok := pos.top[kind]; !ok {
			pos.top[kind] = t.rule.line
		}
		tables, _ := doc[kind].([]map[string]any)
		doc[kind] = append(tables, m)
		pos.tables[kind] = append(pos.tables[kind], newTablePos(t.rule.line))
	}
	return doc, pos
}

// table is t as a TOML table: its kind and keys, in the types the TOML
// library decodes to.
func (t *legacyTable) table() (string, map[string]any) {
	srcs := make([]any, len(t.sources))
	for i, a := range t.sources {
		srcs[i] = a.String()
	}
	m := map[string]any{"sources": srcs, "policy": t.rule.policy}
	if t.rule.rrMode != "" {
		m["rr_mode"] = t.rule.rrMode
	}
	if t.rule.bind {
		m["ports"] = t.rule.ports.String()
		return "bind", m
	}
	m["destination"] = t.prefix.String()
	return "connect", m
}
