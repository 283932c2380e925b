package main

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{7}, 7},
		{"odd unsorted", []float64{9, 1, 5}, 5},
		{"even takes the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"outlier ignored", []float64{10, 11, 12, 1000, 0.1}, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("median reordered its input: %v, was %v", tc.in, in)
				}
			}
		})
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(3, 4); got != 0.75 {
		t.Errorf("ratio(3, 4) = %v, want 0.75", got)
	}
	if got := ratio(3, 0); !math.IsNaN(got) {
		t.Errorf("ratio(3, 0) = %v, want NaN", got)
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name          string
		bare, wrapped []float64
		want          string
	}{
		{"overlap", []float64{10, 11, 12}, []float64{11.5, 12.5, 13}, "no measurable difference"},
		{"touching counts as overlap", []float64{10, 11, 12}, []float64{12, 13, 14}, "no measurable difference"},
		{"slower", []float64{10, 11, 12}, []float64{7, 8, 9.9}, "measurably slower (0.73)"},
		{"faster", []float64{10, 11, 12}, []float64{12.1, 13, 14}, "measurably faster (1.18)"},
		{"too few", []float64{10}, []float64{5}, "too few runs to tell (need 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdict(tc.bare, tc.wrapped); got != tc.want {
				t.Errorf("verdict(%v, %v) (-want +got):\n-%s\n+%s", tc.bare, tc.wrapped, tc.want, got)
			}
		})
	}
}

func TestFormatSources(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.0.0.1")
	for _, tc := range []struct {
		name string
		in   map[netip.Addr]int
		want string
	}{
		{"one address has no count", map[netip.Addr]int{a: 10000}, "192.0.2.10"},
		{"most frequent first, ties by address", map[netip.Addr]int{b: 5, a: 9995, c: 5}, "192.0.2.10 (9995), 10.0.0.1 (5), 10.1.2.3 (5)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatSources(tc.in); got != tc.want {
				t.Errorf("formatSources (-want +got):\n-%s\n+%s", tc.want, got)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64 // 0: rejected
	}{
		{"33629.5\n", 33629.5},
		{" 12 ", 12},
		{"0.0\n", 0},
		{"-5.0\n", 0},
		{"nan\n", 0},
		{"inf\n", 0},
		{"1e999\n", 0},
		{"", 0},
		{"12 calls/s\n", 0},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := parseRate(tc.in)
			if tc.want == 0 {
				if !errors.Is(err, errBadRate) {
					t.Fatalf("parseRate(%q) = %v, %v; want an error wrapping errBadRate", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseRate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzParseRate: whatever a client prints, an accepted rate is one the
// report can divide by and print.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"33629.5\n", "0", "-1", "NaN", "+Inf", "", "1e400", "0x1p-2", "5e-324"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseRate(s)
		if err != nil {
			if !errors.Is(err, errBadRate) {
				t.Fatalf("parseRate(%q): error %v does not wrap errBadRate", s, err)
			}
			return
		}
		if !(v > 0) || math.IsInf(v, 0) {
			t.Fatalf("parseRate(%q) accepted %v", s, v)
		}
		// Round trip through the client's own format.
		if back, err := parseRate(fmt.Sprintf("%.1f\n", v)); v >= 0.05 && (err != nil || math.Abs(back-v) > 0.05+v*1e-12) {
			t.Fatalf("parseRate(%q) = %v, but its %%.1f form reads back as %v, %v", s, v, back, err)
		}
	})
}
