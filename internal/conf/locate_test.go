package conf

import (
	"strconv"
	"testing"

	"github.com/BurntSushi/toml"
)

// flat is positions as plain maps, for diffs: "kind[i]" is a table's line,
// "kind[i].key" a key's, "kind[i].key[j]" an array element's.
func flat(p *positions) map[string]int {
	out := map[string]int{}
	for k, l := range p.top {
		out[k] = l
	}
	for kind, ts := range p.tables {
		for i, t := range ts {
			name := kind + "[" + strconv.Itoa(i) + "]"
			out[name] = t.line
			for k, l := range t.keys {
				out[name+"."+k] = l
			}
			for k, ls := range t.elems {
				for j, l := range ls {
					out[name+"."+k+"["+strconv.Itoa(j)+"]"] = l
				}
			}
		}
	}
	return out
}

func TestLocate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]int
	}{
		{
			name: "arrays of tables",
			in: lines(
				`# [[connect]] in a comment`,
				`[[connect]]`,
				`destination = "a" # sources = 1`,
				`sources = [ # comment`,
				`  "x", # ]`,
				``,
				`  'y']`,
				`[[bind]]`,
				`  ports = 80`,
				`[[ connect ]]`,
				`sources = ["z"]`,
			),
			want: map[string]int{
				"connect": 2, "bind": 8,
				"connect[0]": 2, "connect[0].destination": 3, "connect[0].sources": 4,
				"connect[0].sources[0]": 5, "connect[0].sources[1]": 7,
				"bind[0]": 8, "bind[0].ports": 9,
				"connect[1]": 10, "connect[1].sources": 11, "connect[1].sources[0]": 11,
			},
		},
		{
			name: "multi-line strings",
			in: lines(
				`[[connect]]`,
				`destination = """`,
				`sources = ["no"]`,
				`[[bind]]"""`,
				`policy = '''`,
				`'''`,
				`on_error = """\"""\\"""`,
				`sources = ["""a""""", '''b''''']`,
				`ports = "\"[[bind]]"`,
			),
			want: map[string]int{
				"connect": 1, "connect[0]": 1,
				"connect[0].destination": 2, "connect[0].policy": 5, "connect[0].on_error": 7,
				"connect[0].sources": 8, "connect[0].sources[0]": 8, "connect[0].sources[1]": 8,
				"connect[0].ports": 9,
			},
		},
		{
			name: "inline tables",
			in: lines(
				`connect = [`,
				`  {destination = "a", sources = ["x"]},`,
				`  # comment`,
				`  {`,
				`    destination = "b",`,
				`    sources = [`,
				`      "y",`,
				`    ],`,
				`    opts = {a = [1, 2], b = "}"},`,
				`  },`,
				`]`,
				`bind = [{ports = 1, sources = []}, 7]`,
			),
			want: map[string]int{
				"connect": 1, "bind": 12,
				"connect[0]": 2, "connect[0].destination": 2, "connect[0].sources": 2, "connect[0].sources[0]": 2,
				"connect[1]": 4, "connect[1].destination": 5, "connect[1].sources": 6, "connect[1].sources[0]": 7,
				"connect[1].opts": 9,
				"bind[0]":         12, "bind[0].ports": 12, "bind[0].sources": 12,
				"bind[1]": 12,
			},
		},
		{
			name: "sub-tables, dotted and quoted keys",
			in: lines(
				`top.x = 1`,
				`[[connect]]`,
				`a.b = 1`,
				`"quoted key" = 2`,
				`'lit' = 3`,
				`"esc\u0041" = 4`,
				`[connect.sub]`,
				`c = 1`,
				`[[connect.list]]`,
				`[other]`,
				`d = 1`,
			),
			want: map[string]int{
				"top": 1, "connect": 2, "other": 10,
				"connect[0]": 2, "connect[0].a": 3, "connect[0].quoted key": 4, "connect[0].lit": 5,
				"connect[0].escA": 6, "connect[0].sub": 7, "connect[0].list": 9,
			},
		},
		{
			name: "CRLF and dates",
			in:   "[[bind]]\r\nports = 1979-05-27 07:32:00 # x\r\nsources = [\r\n1979-05-27T07:32:00Z,\r\n]\r\n",
			want: map[string]int{
				"bind": 1, "bind[0]": 1, "bind[0].ports": 2, "bind[0].sources": 3, "bind[0].sources[0]": 4,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := diff(tt.want, flat(locate([]byte(tt.in)))); d != "" {
				t.Errorf("positions (-want +got):%s", d)
			}
		})
	}
}

// locate must terminate and keep its lines inside the document on any
// input, not only on the valid TOML it is given in Parse.
func FuzzLocate(f *testing.F) {
	for _, tt := range parseErrorTests {
		f.Add([]byte(tt.in))
	}
	for _, s := range []string{`"""`, `'''`, `[[`, `a = [{`, `a = "\`, "\xef\xbb\xbf[[x]]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		max := 1
		for _, c := range data {
			if c == '\n' {
				max++
			}
		}
		pos := locate(data)
		for k, l := range flat(pos) {
			if l < 1 || l > max {
				t.Fatalf("%s at line %d, outside 1-%d", k, l, max)
			}
		}
		var doc map[string]any
		if _, err := toml.Decode(string(data), &doc); err == nil {
			agree(t, doc, pos)
		}
	})
}

// agree checks that locate found what the TOML parser found: every
// top-level key, every table of a top-level array, and in those tables every
// key and every element of array values.
func agree(t *testing.T, doc map[string]any, pos *positions) {
	t.Helper()
	for k, v := range doc {
		if _, ok := pos.top[k]; !ok {
			t.Fatalf("top-level key %q not located", k)
		}
		var elems []any
		switch v := v.(type) {
		case []any:
			elems = v
		case []map[string]any:
			for _, m := range v {
				elems = append(elems, m)
			}
		default:
			continue
		}
		if len(pos.tables[k]) != len(elems) {
			t.Fatalf("%q has %d elements, located %d", k, len(elems), len(pos.tables[k]))
		}
		for i, e := range elems {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			tp := pos.tables[k][i]
			for key, val := range m {
				if _, ok := tp.keys[key]; !ok {
					t.Fatalf("%s[%d].%q not located", k, i, key)
				}
				if arr, ok := val.([]any); ok && len(tp.elems[key]) != len(arr) {
					t.Fatalf("%s[%d].%q has %d elements, located %d", k, i, key, len(arr), len(tp.elems[key]))
				}
			}
		}
	}
}
