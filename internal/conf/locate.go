package conf

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// positions are the line numbers of what validation errors can be about.
// The TOML library records one position per key name, so for the second
// [[connect]] table it has the lines of the last one; locate finds them
// itself.
type positions struct {
	top    map[string]int         // first line of each top-level key or table
	tables map[string][]*tablePos // elements of each top-level array, in file order
}

// tablePos is where one [[connect]] or [[bind]] table (or one element of
// "connect = [...]") and its keys are.
type tablePos struct {
	line  int              // of the [[header]], or of the element
	keys  map[string]int   // first segment of each key → line
	elems map[string][]int // array-valued key → line of each element
}

func newTablePos(line int) *tablePos {
	return &tablePos{line: line, keys: map[string]int{}, elems: map[string][]int{}}
}

func (p *positions) table(kind string, i int) *tablePos {
	if ts := p.tables[kind]; i >= 0 && i < len(ts) {
		return ts[i]
	}
	return nil
}

// tableLine is the line of a table, falling back to the first line of its
// kind and then to line 1 so that every error has a line.
func (p *positions) tableLine(kind string, i int) int {
	if t := p.table(kind, i); t != nil {
		return t.line
	}
	if l, ok := p.top[kind]; ok {
		return l
	}
	return 1
}

func (p *positions) keyLine(kind string, i int, key string) int {
	if t := p.table(kind, i); t != nil {
		if l, ok := t.keys[key]; ok {
			return l
		}
	}
	return p.tableLine(kind, i)
}

func (p *positions) elemLine(kind string, i int, key string, elem int) int {
	if t := p.table(kind, i); t != nil {
		if ls := t.elems[key]; elem >= 0 && elem < len(ls) {
			return ls[elem]
		}
	}
	return p.keyLine(kind, i, key)
}

// locate scans a TOML document for the lines of top-level keys, of the
// tables of top-level arrays ([[x]] or x = [{...}]), and of the keys and
// array elements inside those tables.
//
// It is meant for documents the TOML parser has accepted and knows only the
// lexical structure (strings, comments, brackets); on anything else it still
// terminates without panicking, with lines that may be off.
func locate(data []byte) *positions {
	s := &scanner{data: data, line: 1}
	p := &positions{top: map[string]int{}, tables: map[string][]*tablePos{}}
	if len(data) >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf {
		s.i = 3
	}
	root := true
	var cur *tablePos // the table key/values go to; nil when not tracked
	topFirst := func(k string, line int) {
		if _, ok := p.top[k]; !ok {
			p.top[k] = line
		}
	}
	for {
		s.blank()
		if s.eof() {
			return p
		}
		line, start := s.line, s.i
		switch {
		case s.at("[["):
			s.i += 2
			key := s.key()
			root, cur = false, nil
			if len(key) == 0 {
				break
			}
			topFirst(key[0], line)
			if len(key) == 1 {
				cur = newTablePos(line)
				p.tables[key[0]] = append(p.tables[key[0]], cur)
			} else if last := p.table(key[0], len(p.tables[key[0]])-1); last != nil {
				firstLine(last.keys, key[1], line)
			}
		case s.at("["):
			s.i++
			key := s.key()
			root, cur = false, nil
			if len(key) == 0 {
				break
			}
			topFirst(key[0], line)
			// [connect.x] after [[connect]] adds key x to its last table.
			if last := p.table(key[0], len(p.tables[key[0]])-1); len(key) > 1 && last != nil {
				firstLine(last.keys, key[1], line)
			}
		default:
			key := s.key()
			s.space()
			if s.at("=") {
				s.i++
			}
			s.space()
			switch {
			case len(key) == 0:
				s.value()
			case root && len(key) == 1 && s.at("["):
				topFirst(key[0], line)
				s.array(func() {
					t := newTablePos(s.line)
					p.tables[key[0]] = append(p.tables[key[0]], t)
					if s.at("{") {
						s.inlineTable(t)
					} else {
						s.value()
					}
				})
			case root:
				topFirst(key[0], line)
				s.value()
			default:
				s.keyValue(cur, key, line)
			}
		}
		s.restOfLine()
		if s.i == start {
			s.i++ // cannot happen on valid TOML; guarantees progress
		}
	}
}

func firstLine(m map[string]int, k string, line int) {
	if _, ok := m[k]; !ok {
		m[k] = line
	}
}

type scanner struct {
	data []byte
	i    int
	line int
}

func (s *scanner) eof() bool { return s.i >= len(s.data) }

func (s *scanner) at(prefix string) bool {
	return len(s.data)-s.i >= len(prefix) && string(s.data[s.i:s.i+len(prefix)]) == prefix
}

// next consumes one byte, counting lines.
func (s *scanner) next() {
	if s.data[s.i] == '\n' {
		s.line++
	}
	s.i++
}

// space skips blanks within a line.
func (s *scanner) space() {
	for !s.eof() && (s.data[s.i] == ' ' || s.data[s.i] == '\t' || s.data[s.i] == '\r') {
		s.i++
	}
}

// blank skips blanks, newlines and comments.
func (s *scanner) blank() {
	for !s.eof() {
		switch s.data[s.i] {
		case ' ', '\t', '\r', '\n':
			s.next()
		case '#':
			s.comment()
		default:
			return
		}
	}
}

func (s *scanner) comment() {
	for !s.eof() && s.data[s.i] != '\n' {
		s.i++
	}
}

// restOfLine skips what is left of a line after a header or key/value
// (closing brackets, blanks, a comment) up to the newline.
func (s *scanner) restOfLine() {
	for !s.eof() && s.data[s.i] != '\n' {
		if s.data[s.i] == '#' {
			s.comment()
			return
		}
		s.i++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// key reads a dotted key; nil when there is none.
func (s *scanner) key() []string {
	var parts []string
	for {
		s.space()
		if s.eof() {
			return parts
		}
		switch c := s.data[s.i]; {
		case c == '"' || c == '\'':
			start := s.i
			s.str()
			raw := string(s.data[start:s.i])
			parts = append(parts, unquoteKey(raw))
		case isBare(c):
			start := s.i
			for !s.eof() && isBare(s.data[s.i]) {
				s.i++
			}
			parts = append(parts, string(s.data[start:s.i]))
		default:
			return parts
		}
		s.space()
		if !s.at(".") {
			return parts
		}
		s.i++
	}
}

// unquoteKey decodes a quoted key. On an escape it does not know it returns
// the raw text: the key then has no line of its own and errors about it fall
// back to its table's line.
func unquoteKey(raw string) string {
	if len(raw) < 2 || raw[0] != raw[len(raw)-1] {
		return raw
	}
	inner := raw[1 : len(raw)-1]
	if raw[0] == '\'' || !strings.Contains(inner, `\`) {
		return inner
	}
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i++; i >= len(inner) {
			return raw
		}
		switch inner[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(inner[i])
		case 'x', 'u', 'U':
			n := 2
			switch inner[i] {
			case 'u':
				n = 4
			case 'U':
				n = 8
			}
			if i+1+n > len(inner) {
				return raw
			}
			r, err := strconv.ParseUint(inner[i+1:i+1+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				return raw
			}
			b.WriteRune(rune(r))
			i += n
		default:
			return raw
		}
	}
	return b.String()
}

// str skips a string of any of the four kinds.
func (s *scanner) str() {
	q := s.data[s.i]
	escapes := q == '"'
	if s.at(string([]byte{q, q, q})) {
		s.i += 3
		for !s.eof() {
			c := s.data[s.i]
			switch {
			case escapes && c == '\\':
				s.next()
				if !s.eof() {
					s.next()
				}
			case c == q && s.at(string([]byte{q, q, q})):
				// Up to two more quotes belong to the content.
				for !s.eof() && s.data[s.i] == q {
					s.i++
				}
				return
			default:
				s.next()
			}
		}
		return
	}
	s.i++
	for !s.eof() {
		switch c := s.data[s.i]; {
		case c == '\n':
			return
		case escapes && c == '\\':
			s.i++
			if !s.eof() && s.data[s.i] != '\n' {
				s.i++
			}
		case c == q:
			s.i++
			return
		default:
			s.i++
		}
	}
}

// value skips one value.
func (s *scanner) value() {
	if s.eof() {
		return
	}
	switch s.data[s.i] {
	case '"', '\'':
		s.str()
	case '[':
		s.array(s.value)
	case '{':
		s.inlineTable(nil)
	default:
		// Numbers, booleans and dates ("1979-05-27 07:32:00" has a blank).
		for !s.eof() {
			switch s.data[s.i] {
			case ',', ']', '}', '#', '\n':
				return
			}
			s.i++
		}
	}
}

// array skips an array, calling elem to consume each element.
func (s *scanner) array(elem func()) {
	s.i++
	for {
		s.blank()
		if s.eof() {
			return
		}
		switch s.data[s.i] {
		case ']':
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		start := s.i
		elem()
		if s.i == start {
			s.next()
		}
	}
}

// inlineTable skips an inline table, recording its keys in t unless nil.
func (s *scanner) inlineTable(t *tablePos) {
	s.i++
	for {
		s.blank()
		if s.eof() {
			return
		}
		switch s.data[s.i] {
		case '}':
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		start, line := s.i, s.line
		key := s.key()
		s.space()
		if s.at("=") {
			s.i++
		}
		s.space()
		s.keyValue(t, key, line)
		if s.i == start {
			s.next()
		}
	}
}

// keyValue records key (at line) in t unless t is nil, then skips its value,
// recording the line of each element if it is an array.
func (s *scanner) keyValue(t *tablePos, key []string, line int) {
	if t == nil || len(key) == 0 {
		s.value()
		return
	}
	firstLine(t.keys, key[0], line)
	if len(key) != 1 || !s.at("[") {
		s.value()
		return
	}
	var lines []int
	s.array(func() {
		lines = append(lines, s.line)
		s.value()
	})
	if _, ok := t.elems[key[0]]; !ok {
		t.elems[key[0]] = lines
	}
}
