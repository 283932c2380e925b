package conf

import "fmt"

// Limits on what is parsed at all. The TOML library takes time and memory
// that grow with the square of the nesting (a 16 KB file of nested inline
// tables took seconds and most of a gigabyte), so files are measured
// before they are parsed.
const (
	// MaxSize is the most bytes a policy file may have: room for some
	// 3000 [[connect]] rules. The worst file of this size (nested inline
	// tables) takes the TOML library about half a second and 100 MB.
	MaxSize = 256 << 10
	// MaxDepth is the deepest nesting of arrays, inline tables and dotted
	// keys a TOML policy file may have. The schema needs 3, as in
	// connect = [{ sources = ["192.0.2.10"] }].
	MaxDepth = 4
)

// checkLimits refuses data over MaxSize, or a TOML file nested deeper than
// MaxDepth, with the line where it first gets too deep.
func checkLimits(name string, data []byte, toml bool) error {
	if len(data) > MaxSize {
		return &Error{File: name, Line: 1, Err: ErrTooLarge,
			Msg: fmt.Sprintf("policy file too large: %d bytes, at most %d", len(data), MaxSize)}
	}
	if !toml {
		return nil
	}
	if line := tooDeep(data, MaxDepth); line > 0 {
		return &Error{File: name, Line: line, Err: ErrTooDeep,
			Msg: fmt.Sprintf("nested deeper than %d levels (arrays, inline tables, dotted keys); a policy needs 3", MaxDepth)}
	}
	return nil
}

// tooDeep returns the line where data first nests deeper than max, or 0.
// It knows only TOML's strings and comments: outside them each open bracket
// or brace adds a level until closed, and each dot a level until a
// character that cannot be part of a dotted key ends the key. It
// over-counts (a float's dot, the brackets of a [[header]]), never under,
// and runs in one pass whatever the input.
func tooDeep(data []byte, max int) int {
	line, depth, dots := 1, 0, 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\n':
			line++
			dots = 0
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			triple := i+2 < len(data) && data[i+1] == c && data[i+2] == c
			if triple {
				i += 2
			}
			for i++; i < len(data); i++ {
				if data[i] == '\n' {
					if !triple {
						i-- // an unterminated string ends at its line
						break
					}
					line++
				}
				if c == '"' && data[i] == '\\' && i+1 < len(data) && (triple || data[i+1] != '\n') {
					if data[i+1] == '\n' {
						line++
					}
					i++
					continue
				}
				if data[i] == c && (!triple || i+2 < len(data) && data[i+1] == c && data[i+2] == c) {
					if triple {
						i += 2
					}
					break
				}
			}
		case '[', '{':
			depth++
			dots = 0
		case ']', '}':
			if depth > 0 {
				depth--
			}
			dots = 0
		case '.':
			dots++
		case ' ', '\t', '\r':
		default:
			if !isBare(c) {
				dots = 0 // no dotted key goes on past this
			}
		}
		if depth+dots > max {
			return line
		}
	}
	return 0
}
