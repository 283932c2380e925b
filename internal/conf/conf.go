package conf

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// Errors wrapped by [Error.Err] besides those of package policy
// (policy.ErrInvalidDestination, policy.ErrInvalidSource,
// policy.ErrUnknownPolicy, ...).
var (
	ErrSyntax     = errors.New("invalid TOML")
	ErrUnknownKey = errors.New("unknown key")
	ErrType       = errors.New("wrong type")
	ErrMissingKey = errors.New("missing key")
	ErrNoRules    = errors.New("no rules")
	ErrTooLarge   = errors.New("policy file too large")
	ErrTooDeep    = errors.New("policy file nested too deep")
)

// Error is a syntax or validation error in a policy file. It prints as one
// line, "FILE:LINE: KEY: MSG", or "FILE:LINE: MSG" when no key applies.
type Error struct {
	File string
	Line int    // 1-based
	Key  string // like "connect.sources" or "bind.ports"; may be empty
	Msg  string
	Err  error // the cause, for errors.Is
}

func (e *Error) Error() string {
	var s string
	if e.Key == "" {
		s = fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	} else {
		s = fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
	}
	// The launcher prints this as its one line of diagnosis.
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

func (e *Error) Unwrap() error { return e.Err }

// Parse reads and validates the contents of a policy file; name is the file
// name that errors and rule origins show. It reads src_vipa.conf files too, resolving
// their host names with Go's resolver, and drops their warnings: see [Read].
func Parse(name string, data []byte) (*policy.Policy, error) {
	r, err := Read(context.Background(), name, data, Options{})
	if err != nil {
		return nil, err
	}
	return r.Policy, nil
}

// parseTOML is Parse for a TOML file.
func parseTOML(name string, data []byte) (*policy.Policy, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, syntaxError(name, data, err)
	}
	f := &file{name: name, pos: locate(data)}
	return f.build(doc)
}

func syntaxError(name string, data []byte, err error) *Error {
	e := &Error{File: name, Line: 1, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return e
	}
	// Position.Line counts a newline the lexer has already passed (an
	// unterminated [[header]] is reported on the next line); the byte
	// offset does not.
	if start := pe.Position.Start; start >= 0 && start <= len(data) {
		e.Line = 1 + strings.Count(string(data[:start]), "\n")
	} else if pe.Position.Line > 0 {
		e.Line = pe.Position.Line
	}
	// No key: the library's LastKey is often that of an earlier line.
	msg := strings.TrimSuffix(pe.Message, ".")
	if msg != "" {
		msg = strings.ToLower(msg[:1]) + msg[1:]
	}
	e.Msg = ErrSyntax.Error() + ": " + msg
	return e
}

// The keys of each kind of rule, in the order help texts list them.
var ruleKeys = map[string][]string{
	"connect":   {"destination", "ports", "protocol", "sources", "policy", "rr_mode", "on_error"},
	"interface": {"name", "ports", "protocol", "sources", "policy", "rr_mode", "on_error"},
	"bind":      {"ports", "sources", "policy", "rr_mode", "on_error"},
}

type file struct {
	name string
	pos  *positions
}

func (f *file) errorf(line int, key string, err error, format string, args ...any) *Error {
	return &Error{File: f.name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...), Err: err}
}

// table is one rule table of the document.
type table struct {
	kind  string
	index int
	line  int
	m     map[string]any
}

// item is a top-level key to check: a rule table, or an unknown key (table
// nil).
type item struct {
	line  int
	key   string
	table *table
}

func (f *file) build(doc map[string]any) (*policy.Policy, error) {
	// Everything is checked in file order, so the error reported is the
	// first one an admin reading from the top meets.
	var items []item
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(f.topLine(a), f.topLine(b)), cmp.Compare(a, b))
	})
	var opts policy.Options
	for _, k := range keys {
		v, line := doc[k], f.topLine(k)
		if k == "options" {
			var e *Error
			if opts, e = f.options(v, line); e != nil {
				return nil, e
			}
			continue
		}
		if _, ok := ruleKeys[k]; !ok {
			items = append(items, item{line: line, key: k})
			continue
		}
		tables, e := f.tables(k, v, line)
		if e != nil {
			return nil, e
		}
		for _, t := range tables {
			items = append(items, item{line: t.line, key: k, table: t})
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.key, b.key), cmp.Compare(index(a.table), index(b.table)))
	})

	// Rules go to New at their table's index, which the rule errors of New
	// refer to; [[interface]] rules follow the [[connect]] rules.
	nConnect := count(items, "connect")
	connect := make([]policy.ConnectRule, nConnect+count(items, "interface"))
	bind := make([]policy.BindRule, count(items, "bind"))
	for _, it := range items {
		if it.table == nil {
			return nil, f.unknownTop(it.key, doc[it.key], it.line)
		}
		switch it.table.kind {
		case "connect":
			r, e := f.connectRule(it.table)
			if e != nil {
				return nil, e
			}
			connect[it.table.index] = r
		case "interface":
			r, e := f.connectRule(it.table)
			if e != nil {
				return nil, e
			}
			connect[nConnect+it.table.index] = r
		case "bind":
			r, e := f.bindRule(it.table)
			if e != nil {
				return nil, e
			}
			bind[it.table.index] = r
		}
	}
	if len(connect)+len(bind) == 0 {
		return nil, f.errorf(1, "", ErrNoRules, "no rules: add a [[connect]], [[interface]] or [[bind]] table")
	}
	p, err := policy.New(connect, bind)
	if err != nil {
		var re *policy.RuleError
		if !errors.As(err, &re) {
			return nil, f.errorf(1, "", err, "%s", err.Error())
		}
		if re.Kind == "interface" {
			re.Index -= nConnect
		}
		line := f.pos.elemLine(re.Kind, re.Index, re.Field, re.Source)
		return nil, f.errorf(line, re.Kind+"."+re.Field, re.Err, "%s", re.Err.Error())
	}
	return p.WithOptions(opts), nil
}

// optionKeys are the keys of [options], in the order help texts list them.
var optionKeys = []string{"trap_sendmsg", "allow_io_uring", "defer_wildcard_binds", "absent_sources", "engine"}

// options reads the [options] table. Its keys are reported at the table's
// line: locate tracks the keys of rule tables only.
func (f *file) options(v any, line int) (policy.Options, *Error) {
	var o policy.Options
	m, ok := v.(map[string]any)
	if !ok {
		return o, f.errorf(line, "options", ErrType, "want an [options] table, got %s", typeName(v))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		key := quoteKey("options", k)
		var dst *bool
		negate := false // the field holds the key's opposite
		switch k {
		case "trap_sendmsg":
			dst = &o.TrapSendmsg
		case "allow_io_uring":
			dst = &o.AllowIOUring
		case "defer_wildcard_binds":
			dst = &o.KeepWildcardBinds
			negate = true
		case "absent_sources":
			v, ok := m[k].(string)
			if !ok {
				return o, f.errorf(line, key, ErrType, "want a string, got %s", typeName(m[k]))
			}
			a, err := policy.ParseAbsentSources(v)
			if err != nil {
				return o, f.errorf(line, key, err, "%s", err.Error())
			}
			o.AbsentSources = a
			continue
		case "engine":
			v, ok := m[k].(string)
			if !ok {
				return o, f.errorf(line, key, ErrType, "want a string, one of %s; got %s", strings.Join(policy.EngineNames(), ", "), typeName(m[k]))
			}
			e, err := policy.ParseEngine(v)
			if err != nil {
				if s := suggest(v, policy.EngineNames()); s != "" {
					return o, f.errorf(line, key, err, "invalid engine %q; did you mean %q?", v, s)
				}
				return o, f.errorf(line, key, err, "%s", err.Error())
			}
			o.Engine = e
			continue
		default:
			if s := suggest(k, optionKeys); s != "" {
				return o, f.errorf(line, key, ErrUnknownKey, "unknown key; did you mean %q?", s)
			}
			return o, f.errorf(line, key, ErrUnknownKey, "unknown key in [options] (valid: %s)", strings.Join(optionKeys, ", "))
		}
		b, ok := m[k].(bool)
		if !ok {
			return o, f.errorf(line, key, ErrType, "want true or false, got %s", typeName(m[k]))
		}
		*dst = b != negate
	}
	return o, nil
}

func (f *file) topLine(k string) int {
	if l, ok := f.pos.top[k]; ok {
		return l
	}
	return 1
}

func count(items []item, kind string) int {
	n := 0
	for _, it := range items {
		if it.table != nil && it.table.kind == kind {
			n++
		}
	}
	return n
}

func index(t *table) int {
	if t == nil {
		return -1
	}
	return t.index
}

// tables returns the rule tables of the top-level key kind: [[kind]] tables
// decode to []map[string]any, kind = [{...}] to []any.
func (f *file) tables(kind string, v any, line int) ([]*table, *Error) {
	var ms []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		ms = v
	case []any:
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, f.errorf(f.pos.tableLine(kind, i), kind, ErrType, "want tables like [[%s]], got %s", kind, typeName(e))
			}
			ms = append(ms, m)
		}
	case map[string]any:
		return nil, f.errorf(line, kind, ErrType, "write [[%s]] (one per rule), not [%s]", kind, kind)
	default:
		return nil, f.errorf(line, kind, ErrType, "want [[%s]] tables, got %s", kind, typeName(v))
	}
	out := make([]*table, len(ms))
	for i, m := range ms {
		out[i] = &table{kind: kind, index: i, line: f.pos.tableLine(kind, i), m: m}
	}
	return out, nil
}

func (f *file) unknownTop(k string, v any, line int) *Error {
	what := "key"
	switch v.(type) {
	case map[string]any, []map[string]any:
		what = "table"
	}
	if s := suggest(k, []string{"connect", "interface", "bind", "options"}); s == "options" {
		return f.errorf(line, quoteKey(k), ErrUnknownKey, "unknown %s; did you mean [options]?", what)
	} else if s != "" {
		return f.errorf(line, quoteKey(k), ErrUnknownKey, "unknown %s; did you mean [[%s]]?", what, s)
	}
	return f.errorf(line, quoteKey(k), ErrUnknownKey, "unknown %s; a policy file has only [[connect]], [[interface]] and [[bind]] tables and [options]", what)
}

// fields walks the keys of a rule table in file order. For known keys it
// calls set, which returns the message of a wrong value or nil.
func (f *file) fields(t *table, set func(key string, v any) *Error) *Error {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(f.pos.keyLine(t.kind, t.index, a), f.pos.keyLine(t.kind, t.index, b)), cmp.Compare(a, b))
	})
	valid := ruleKeys[t.kind]
	for _, k := range keys {
		if !slices.Contains(valid, k) {
			line := f.pos.keyLine(t.kind, t.index, k)
			key := quoteKey(t.kind, k)
			if s := suggest(k, valid); s != "" {
				return f.errorf(line, key, ErrUnknownKey, "unknown key; did you mean %q?", s)
			}
			return f.errorf(line, key, ErrUnknownKey, "unknown key in [[%s]] (valid: %s)", t.kind, strings.Join(valid, ", "))
		}
		if err := set(k, t.m[k]); err != nil {
			return err
		}
	}
	for _, k := range valid {
		if _, ok := t.m[k]; !ok && !optional(t, k) {
			return f.errorf(t.line, t.kind+"."+k, ErrMissingKey, "missing; every [[%s]] rule needs %s", t.kind, k)
		}
	}
	return nil
}

// optional reports whether rule table t may leave out key k: all but a
// [[connect]]'s destination, an [[interface]]'s name, a [[bind]]'s ports,
// and sources unless the rule's policy is kernel.
func optional(t *table, k string) bool {
	switch k {
	case "destination", "name":
		return false
	case "ports":
		return t.kind != "bind"
	case "sources":
		return t.m["policy"] == policy.Kernel
	}
	return true
}

func (f *file) origin(t *table) string { return fmt.Sprintf("%s:%d", f.name, t.line) }

// shared are the keys every kind of rule has.
type shared struct {
	sources []string
	policy  string
	rrMode  fs.FileMode
	onError policy.OnError
}

// sharedField reads key k into c if it is one of the keys every rule has,
// and reports whether it was.
func (f *file) sharedField(t *table, k string, v any, c *shared) (bool, *Error) {
	var err *Error
	switch k {
	case "sources":
		c.sources, err = f.sources(t, v)
	case "policy":
		c.policy, err = f.policyName(t, v)
	case "rr_mode":
		c.rrMode, err = f.rrMode(t, v)
	case "on_error":
		c.onError, err = f.onError(t, v)
	default:
		return false, nil
	}
	return true, err
}

// connectRule reads a [[connect]] rule, or an [[interface]] rule: a connect
// rule for the connections routed out of an interface, matched by name.
// fields has checked that each key belongs to the table's kind.
func (f *file) connectRule(t *table) (policy.ConnectRule, *Error) {
	r := policy.ConnectRule{Origin: f.origin(t)}
	var c shared
	err := f.fields(t, func(k string, v any) *Error {
		if ok, err := f.sharedField(t, k, v, &c); ok {
			return err
		}
		var err *Error
		switch k {
		case "destination":
			r.Destination, err = f.destination(t, v)
		case "name":
			r.Interface, err = f.interfaceName(t, v)
		case "ports":
			r.Ports, err = f.connectPorts(t, v)
		case "protocol":
			r.Protocol, err = f.protocol(t, v)
		}
		return err
	})
	if err != nil {
		return r, err
	}
	r.Policy, r.RRMode, r.OnError = c.policy, c.rrMode, c.onError
	r.Sources, err = f.addrs(t, c.sources)
	return r, err
}

// interfaceName reads an [[interface]] rule's name.
func (f *file) interfaceName(t *table, v any) (string, *Error) {
	s, ok := v.(string)
	if !ok {
		return "", f.keyErr(t, "name", ErrType, `want an interface name like "eth0", got %s`, typeName(v))
	}
	if e := policy.CheckInterfaceName(s); e != nil {
		return s, f.keyErr(t, "name", e, "%s", e.Error())
	}
	return s, nil
}

func (f *file) bindRule(t *table) (policy.BindRule, *Error) {
	r := policy.BindRule{Origin: f.origin(t)}
	var c shared
	err := f.fields(t, func(k string, v any) *Error {
		if ok, err := f.sharedField(t, k, v, &c); ok {
			return err
		}
		var err *Error
		if k == "ports" {
			r.Ports, err = f.ports(t, v)
		}
		return err
	})
	if err != nil {
		return r, err
	}
	r.Policy, r.RRMode, r.OnError = c.policy, c.rrMode, c.onError
	r.Sources, err = f.addrs(t, c.sources)
	return r, err
}

// keyErr is an error about key k of table t, at the key's line.
func (f *file) keyErr(t *table, k string, err error, format string, args ...any) *Error {
	return f.errorf(f.pos.keyLine(t.kind, t.index, k), t.kind+"."+k, err, format, args...)
}

func (f *file) destination(t *table, v any) (netip.Prefix, *Error) {
	s, ok := v.(string)
	if !ok {
		return netip.Prefix{}, f.keyErr(t, "destination", ErrType, `want a string like "10.0.0.0/8", got %s`, typeName(v))
	}
	bad := func() *Error {
		return f.keyErr(t, "destination", policy.ErrInvalidDestination, `%q is not an address or CIDR prefix like "10.0.0.0/8" or "2001:db8::/32"`, s)
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, f.keyErr(t, "destination", policy.ErrInvalidDestination, "%q has a zone; destinations are addresses or prefixes without %%zone", s)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, bad()
		}
		// Host bits and IPv4-mapped prefixes are policy.New's to judge.
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, bad()
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (f *file) sources(t *table, v any) ([]string, *Error) {
	list, ok := v.([]any)
	if !ok {
		return nil, f.keyErr(t, "sources", ErrType, `want a list of addresses like ["192.0.2.10"], got %s`, typeName(v))
	}
	if len(list) == 0 && t.m["policy"] != policy.Kernel {
		return nil, f.keyErr(t, "sources", policy.ErrNoSources, "empty; list at least one source address")
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			line := f.pos.elemLine(t.kind, t.index, "sources", i)
			return nil, f.errorf(line, t.kind+".sources", ErrType, `want addresses as strings like "192.0.2.10", got %s`, typeName(e))
		}
		out[i] = s
	}
	return out, nil
}

// addrs parses the sources; what makes a good source is policy.New's to
// judge.
func (f *file) addrs(t *table, srcs []string) ([]netip.Addr, *Error) {
	out := make([]netip.Addr, len(srcs))
	for i, s := range srcs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			line := f.pos.elemLine(t.kind, t.index, "sources", i)
			hint := ""
			if strings.Contains(s, "/") {
				hint = " (sources are single addresses, not prefixes)"
			}
			return nil, f.errorf(line, t.kind+".sources", policy.ErrInvalidSource, "%q is not an IP address%s", s, hint)
		}
		out[i] = a
	}
	return out, nil
}

func (f *file) policyName(t *table, v any) (string, *Error) {
	s, ok := v.(string)
	if !ok {
		return "", f.keyErr(t, "policy", ErrType, "want a string, one of %s; got %s", strings.Join(policy.Names(), ", "), typeName(v))
	}
	if err := policy.CheckName(s); err != nil {
		return "", f.keyErr(t, "policy", err, "%s", err.Error())
	}
	return s, nil
}

func (f *file) onError(t *table, v any) (policy.OnError, *Error) {
	s, ok := v.(string)
	if !ok {
		return 0, f.keyErr(t, "on_error", ErrType, `want "continue" or "fail", got %s`, typeName(v))
	}
	o, err := policy.ParseOnError(s)
	if err != nil {
		return 0, f.keyErr(t, "on_error", err, "%s", err.Error())
	}
	return o, nil
}

func (f *file) ports(t *table, v any) (policy.PortRange, *Error) {
	switch v := v.(type) {
	case string:
		r, err := policy.ParsePortRange(v)
		if err != nil {
			return r, f.keyErr(t, "ports", err, "%s", err.Error())
		}
		return r, nil
	case int64:
		if v < 0 || v > 65535 {
			return policy.PortRange{}, f.keyErr(t, "ports", policy.ErrInvalidPorts, "port %d out of range 0-65535", v)
		}
		return policy.PortRange{Lo: uint16(v), Hi: uint16(v)}, nil
	}
	return policy.PortRange{}, f.keyErr(t, "ports", ErrType, `want a port like 80 or a range like "6000-6999", got %s`, typeName(v))
}

// connectPorts is ports for a [[connect]] rule: destination ports, where
// port 0 alone means nothing.
func (f *file) connectPorts(t *table, v any) (policy.PortRange, *Error) {
	r, err := f.ports(t, v)
	if err == nil && r == (policy.PortRange{}) {
		return r, f.keyErr(t, "ports", policy.ErrInvalidPorts, "port 0 is no destination port; leave ports out to match every port")
	}
	return r, err
}

func (f *file) protocol(t *table, v any) (policy.Protocol, *Error) {
	s, ok := v.(string)
	if !ok {
		return 0, f.keyErr(t, "protocol", ErrType, `want "tcp" or "udp", got %s`, typeName(v))
	}
	p, err := policy.ParseProtocol(s)
	if err != nil {
		return 0, f.keyErr(t, "protocol", err, "%s; leave protocol out to match every protocol", err.Error())
	}
	return p, nil
}

// rrMode reads rr_mode: octal digits in a string ("0660", as src_vipa's
// rr:660), or a TOML integer, where only the octal form 0o660 says what it
// means.
func (f *file) rrMode(t *table, v any) (fs.FileMode, *Error) {
	switch v := v.(type) {
	case string:
		m, err := policy.ParseRRMode(v)
		if err != nil {
			return 0, f.keyErr(t, "rr_mode", err, "%s", err.Error())
		}
		return m, nil
	case int64:
		if v < 0 || v > 0o777 {
			return 0, f.keyErr(t, "rr_mode", policy.ErrInvalidRRMode, `%d is no mode; write octal permissions as a string, like "0660", or as 0o660`, v)
		}
		m := fs.FileMode(v)
		if err := policy.CheckRRMode(m); err != nil {
			return 0, f.keyErr(t, "rr_mode", err, "%s", err.Error())
		}
		return m, nil
	}
	return 0, f.keyErr(t, "rr_mode", ErrType, `want octal permissions like "0600", got %s`, typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// quoteKey spells a key path as TOML would, quoting what is not bare.
func quoteKey(parts ...string) string { return toml.Key(parts).String() }

// suggest returns the word of valid closest to k if it is a likely typo.
func suggest(k string, valid []string) string {
	best, bestD := "", 3
	for _, v := range valid {
		if d := EditDistance(strings.ToLower(k), v); d < bestD {
			best, bestD = v, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance of a and b, on bytes (keys and
// option names are ASCII), for "did you mean" suggestions.
func EditDistance(a, b string) int {
	if len(a) > 64 {
		return len(a) // far from any valid key, and bounds the work
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
