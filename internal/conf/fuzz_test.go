package conf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/policy/policytest"
)

func FuzzPolicyFile(f *testing.F) {
	for _, tt := range parseErrorTests {
		f.Add([]byte(tt.in))
	}
	for _, tt := range parseTests {
		f.Add([]byte(tt.in))
	}
	if example, err := os.ReadFile("../../examples/policy.toml"); err == nil {
		f.Add(example)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "f.toml"
		nlines := 1 + strings.Count(string(data), "\n")
		p, err := Parse(name, data)

		// Parsing is deterministic.
		p2, err2 := Parse(name, data)
		if fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatalf("two parses differ: %v / %v", err, err2)
		}

		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T (%v) is not a *Error", err, err)
			}
			if e.File != name || e.Line < 1 || e.Line > nlines {
				t.Fatalf("error at %s:%d, want %s:1-%d: %v", e.File, e.Line, name, nlines, err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error is not one line: %q", msg)
			}
			if prefix := name + ":" + strconv.Itoa(e.Line) + ": "; !strings.HasPrefix(msg, prefix) {
				t.Fatalf("error %q does not start with %q", msg, prefix)
			}
			if e.Err == nil {
				t.Fatalf("error %q has no cause", msg)
			}
			return
		}
		if d := diff(rules(p), rules(p2)); d != "" {
			t.Fatalf("two parses differ (-first +second):%s", d)
		}
		checkConsistent(t, p, name, nlines)
	})
}

// checkConsistent checks that an accepted policy is one policy.New accepts
// and that each rule is reachable.
func checkConsistent(t *testing.T, p *policy.Policy, name string, nlines int) {
	t.Helper()
	connect, bind := p.ConnectRules(), p.BindRules()
	if len(connect)+len(bind) == 0 {
		t.Fatal("accepted a policy without rules")
	}
	checkOrigin := func(origin string) {
		line, err := strconv.Atoi(strings.TrimPrefix(origin, name+":"))
		if !strings.HasPrefix(origin, name+":") || err != nil || line < 1 || line > nlines {
			t.Fatalf("origin %q is not %s:1-%d", origin, name, nlines)
		}
	}
	seen := map[string]bool{}
	for _, r := range connect {
		checkOrigin(r.Origin)
		if r.Interface != "" {
			checkInterfaceRule(t, p, r)
			continue
		}
		if err := policy.CheckDestination(r.Destination); err != nil {
			t.Fatalf("accepted rule %+v: %v", r, err)
		}
		key := fmt.Sprint(r.Destination, r.Ports, r.Protocol)
		if seen[key] {
			t.Fatalf("accepted duplicate destination, ports and protocol %s", key)
		}
		seen[key] = true
		kernel := r.Policy == policy.Kernel
		if len(r.Sources) == 0 && !kernel || (r.Selector == nil) != kernel || !slices.Contains(policy.Names(), r.Policy) || r.OnError > policy.OnErrorFail {
			t.Fatalf("accepted rule %+v", r)
		}
		for _, a := range r.Sources {
			if err := policy.CheckConnectSource(r.Destination, a); err != nil {
				t.Fatalf("accepted rule %+v: %v", r, err)
			}
		}
		// The rule's own network goes to it or to a more specific rule.
		dst := netip.AddrPortFrom(r.Destination.Addr(), max(r.Ports.Lo, 1))
		_, got, ok := policytest.Connect(p, dst, r.Protocol, 1)
		if !ok || got.Destination.Bits() < r.Destination.Bits() {
			t.Fatalf("Connect(%s, %s) = %+v, %v; want rule %+v or a more specific one", dst, r.Protocol, got, ok, r)
		}
	}
	for _, r := range bind {
		checkOrigin(r.Origin)
		kernel := r.Policy == policy.Kernel
		if r.Ports.Lo > r.Ports.Hi || len(r.Sources) == 0 && !kernel || (r.Selector == nil) != kernel || !slices.Contains(policy.Names(), r.Policy) || r.OnError > policy.OnErrorFail {
			t.Fatalf("accepted rule %+v", r)
		}
		for _, a := range r.Sources {
			if err := policy.CheckBindSource(a); err != nil {
				t.Fatalf("accepted rule %+v: %v", r, err)
			}
			if _, got, ok := policytest.Bind(p, a.Is6(), r.Ports.Lo, 1); !ok {
				t.Fatalf("Bind(%v, %d) found no rule, want %+v or an earlier one", a.Is6(), r.Ports.Lo, r)
			} else if !got.Ports.Contains(r.Ports.Lo) {
				t.Fatalf("Bind(%v, %d) = %+v, whose ports do not contain it", a.Is6(), r.Ports.Lo, got)
			}
		}
	}
}

// checkInterfaceRule checks an accepted [[interface]] rule: a valid name and
// sources, and reachable for each family it has sources of when every
// route goes out of its interface, unless a [[connect]] rule comes first.
func checkInterfaceRule(t *testing.T, p *policy.Policy, r policy.ConnectRule) {
	t.Helper()
	kernel := r.Policy == policy.Kernel
	if err := policy.CheckInterfaceName(r.Interface); err != nil || r.Destination.IsValid() ||
		len(r.Sources) == 0 && !kernel || (r.Selector == nil) != kernel || !slices.Contains(policy.Names(), r.Policy) || r.OnError > policy.OnErrorFail {
		t.Fatalf("accepted rule %+v (%v)", r, err)
	}
	q, err := p.WithEnv(policy.Env{Route: func(netip.Addr) (string, bool) { return r.Interface, true }})
	if err != nil {
		t.Fatalf("WithEnv: %v", err)
	}
	for _, a := range r.Sources {
		if err := policy.CheckSource(a); err != nil {
			t.Fatalf("accepted rule %+v: %v", r, err)
		}
		dst := netip.AddrPortFrom(a, max(r.Ports.Lo, 1))
		m, ok := q.MatchInterface(dst, r.Protocol)
		if !ok || m.Interface() != r.Interface {
			t.Fatalf("MatchInterface(%s, %s) = %q, %v; want a rule of %s", dst, r.Protocol, m.Origin(), ok, r.Interface)
		}
		if m.Origin() == r.Origin && !slices.Contains(m.Sources(), a) {
			t.Fatalf("MatchInterface(%s) offers %v, not %s", dst, m.Sources(), a)
		}
	}
}
