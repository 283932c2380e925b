package testutil

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Diff returns "" when want and got are deeply equal, and otherwise a line
// diff of their printed forms for a "(-want +got)" failure message: lines
// only in want start with "-", lines only in got with "+". Maps print one
// "key: value" line per key in sorted order, slices one element per line,
// strings one line per line.
func Diff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	w, g := render(want), render(got)
	if slices.Equal(w, g) {
		// Equal when printed, different in fact (types, nil vs empty).
		w, g = []string{fmt.Sprintf("%#v", want)}, []string{fmt.Sprintf("%#v", got)}
	}
	var b strings.Builder
	for _, l := range diffLines(w, g) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func render(v any) []string {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		lines := make([]string, 0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			lines = append(lines, fmt.Sprintf("%v: %v", it.Key(), it.Value()))
		}
		slices.Sort(lines)
		return lines
	case reflect.Slice, reflect.Array:
		lines := make([]string, rv.Len())
		for i := range lines {
			lines[i] = fmt.Sprintf("%v", rv.Index(i))
		}
		return lines
	case reflect.String:
		return strings.Split(rv.String(), "\n")
	default:
		return []string{fmt.Sprintf("%#v", v)}
	}
}

// diffLines is a longest-common-subsequence line diff; the inputs of tests
// are small enough for the quadratic table.
func diffLines(a, b []string) []string {
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, " "+a[i])
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "-"+a[i])
			i++
		default:
			out = append(out, "+"+b[j])
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, "-"+a[i])
	}
	for ; j < len(b); j++ {
		out = append(out, "+"+b[j])
	}
	return out
}
