package policy

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
)

func TestNewSelector(t *testing.T) {
	tests := []struct {
		name string
		want Selector
		err  error
	}{
		{"onevipa", oneVIPA{}, nil},
		{"random", random{}, nil},
		{"kernel", nil, nil},
		{"", nil, ErrUnknownPolicy},
		{"OneVIPA", nil, ErrUnknownPolicy},
		{"rr:600", nil, ErrUnknownPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewSelector(tt.name)
			if !errors.Is(err, tt.err) {
				t.Fatalf("NewSelector(%q) error = %v, want %v", tt.name, err, tt.err)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("NewSelector(%q) (-want +got):%s", tt.name, d)
			}
		})
	}
	// The stateful ones work without a rule, keeping their state here.
	srcs := addrs("192.0.2.1", "192.0.2.2", "192.0.2.3")
	for _, name := range []string{LRR, RR, LC} {
		s, err := NewSelector(name)
		if err != nil || s == nil {
			t.Fatalf("NewSelector(%q) = %v, %v; want a selector", name, s, err)
		}
		first := s.Select(Call{Pid: 1, Sources: srcs})
		for i := 1; i < 6; i++ {
			if got := s.Select(Call{Pid: 1, Sources: srcs}); got != (first+i)%3 {
				t.Errorf("NewSelector(%q): call %d picked %d, want %d", name, i, got, (first+i)%3)
			}
		}
	}
	_, err := NewSelector("rr:600")
	if d := diff(`unknown policy "rr:600" (valid: onevipa, random, lrr, rr, lc, kernel)`, err.Error()); d != "" {
		t.Errorf("message (-want +got):%s", d)
	}
}

func TestOneVIPA(t *testing.T) {
	s, _ := NewSelector(OneVIPA)
	for n := 1; n <= 4; n++ {
		c := Call{Pid: n, Sources: make([]netip.Addr, n)}
		if got := s.Select(c); got != 0 {
			t.Errorf("onevipa with %d sources picked %d, want 0", n, got)
		}
	}
}

// chiSquareP returns the probability that a uniform distribution over
// len(counts) outcomes gives a chi-square statistic at least as large as that
// of counts. len(counts) must be odd: the survival function has a closed form
// for an even number of degrees of freedom.
func chiSquareP(t *testing.T, counts []int) float64 {
	t.Helper()
	k := len(counts)
	if k%2 == 0 {
		t.Fatalf("chiSquareP needs an odd number of outcomes, got %d", k)
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	want := float64(total) / float64(k)
	var x float64
	for _, c := range counts {
		d := float64(c) - want
		x += d * d / want
	}
	// Q(x; 2m) = exp(-x/2) * sum_{j<m} (x/2)^j / j!
	m := (k - 1) / 2
	term, sum := 1.0, 0.0
	for j := 0; j < m; j++ {
		if j > 0 {
			term *= x / 2 / float64(j)
		}
		sum += term
	}
	return math.Exp(-x/2) * sum
}

// pThreshold makes a false failure of a uniformity test a one in a million
// event.
const pThreshold = 1e-6

func TestRandomUniform(t *testing.T) {
	s, err := NewSelector(Random)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{3, 5, 7} {
		srcs := make([]netip.Addr, k)
		workers := runtime.GOMAXPROCS(0) + 1
		const perWorker = 40000
		counts := make([][]int, workers)
		var wg sync.WaitGroup
		for w := range workers {
			counts[w] = make([]int, k)
			wg.Go(func() {
				for i := range perWorker {
					n := s.Select(Call{Pid: i, Sources: srcs})
					if n < 0 || n >= k {
						t.Errorf("random picked %d of %d sources", n, k)
						return
					}
					counts[w][n]++
				}
			})
		}
		wg.Wait()
		sum := make([]int, k)
		for _, c := range counts {
			for i, n := range c {
				sum[i] += n
			}
		}
		if p := chiSquareP(t, sum); p < pThreshold {
			t.Errorf("random over %d sources: counts %v, chi-square p = %g < %g", k, sum, p, pThreshold)
		}
	}
}

// The uniformity test must be able to fail: a selector with modulo bias is
// caught.
func TestChiSquareDetectsBias(t *testing.T) {
	const k = 5
	counts := make([]int, k)
	for range 100000 {
		counts[rand.IntN(8)%k]++
	}
	if p := chiSquareP(t, counts); p >= pThreshold {
		t.Errorf("biased counts %v: chi-square p = %g, want < %g", counts, p, pThreshold)
	}
	if p := chiSquareP(t, []int{1000, 1000, 1000}); p != 1 {
		t.Errorf("perfectly uniform counts: p = %g, want 1", p)
	}
}

func TestRandomSingleSource(t *testing.T) {
	s, _ := NewSelector(Random)
	for range 100 {
		if got := s.Select(Call{Sources: make([]netip.Addr, 1)}); got != 0 {
			t.Fatalf("random with one source picked %d", got)
		}
	}
}
