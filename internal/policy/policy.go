package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Policy is a validated set of rules. It is immutable after [New] and safe
// for concurrent use.
type Policy struct {
	connect []ConnectRule
	bind    []BindRule

	// Connect rules of each family, longest prefix first, so the first
	// that contains a destination wins.
	connect4, connect6 []*ConnectRule

	// Bind candidates per rule, in file order: bind4[i] and bind6[i] are
	// the sources of bind[i] for a wildcard bind on AF_INET and AF_INET6.
	bind4, bind6 [][]netip.Addr
}

// New validates the rules and returns a Policy that owns copies of them.
//
// A rule with a nil Selector gets NewSelector(Policy), and an empty Policy
// name means onevipa. Two connect rules with the same destination are an
// error: the second could never match. Errors are [*RuleError].
func New(connect []ConnectRule, bind []BindRule) (*Policy, error) {
	p := &Policy{
		connect: make([]ConnectRule, len(connect)),
		bind:    make([]BindRule, len(bind)),
		bind4:   make([][]netip.Addr, len(bind)),
		bind6:   make([][]netip.Addr, len(bind)),
	}
	seen := make(map[netip.Prefix]int, len(connect))
	for i, r := range connect {
		fail := func(field string, src int, err error) error {
			return &RuleError{Kind: "connect", Index: i, Field: field, Source: src, Err: err}
		}
		if err := CheckDestination(r.Destination); err != nil {
			return nil, fail("destination", -1, err)
		}
		if j, dup := seen[r.Destination]; dup {
			return nil, fail("destination", -1, fmt.Errorf("%w %s: the rule at %s has the same one, so this rule would never match", ErrDuplicateDestination, r.Destination, originOr(connect[j].Origin, j)))
		}
		seen[r.Destination] = i
		r.Sources = slices.Clone(r.Sources)
		if k, err := checkSources(r.Sources, func(a netip.Addr) error { return CheckConnectSource(r.Destination, a) }); err != nil {
			return nil, fail("sources", k, err)
		}
		var err error
		if r.Policy, r.Selector, err = selector(r.Policy, r.Selector); err != nil {
			return nil, fail("policy", -1, err)
		}
		if err := checkOnError(r.OnError); err != nil {
			return nil, fail("on_error", -1, err)
		}
		p.connect[i] = r
	}
	for i, r := range bind {
		fail := func(field string, src int, err error) error {
			return &RuleError{Kind: "bind", Index: i, Field: field, Source: src, Err: err}
		}
		if err := r.Ports.check(); err != nil {
			return nil, fail("ports", -1, err)
		}
		r.Sources = slices.Clone(r.Sources)
		if k, err := checkSources(r.Sources, CheckSource); err != nil {
			return nil, fail("sources", k, err)
		}
		var err error
		if r.Policy, r.Selector, err = selector(r.Policy, r.Selector); err != nil {
			return nil, fail("policy", -1, err)
		}
		if err := checkOnError(r.OnError); err != nil {
			return nil, fail("on_error", -1, err)
		}
		p.bind[i] = r
		for _, a := range r.Sources {
			if a.Is4() {
				p.bind4[i] = append(p.bind4[i], a)
			} else {
				p.bind6[i] = append(p.bind6[i], a)
			}
		}
		if len(p.bind6[i]) == 0 {
			// A dual-stack socket reaches IPv4 through ::ffff:a.b.c.d.
			p.bind6[i] = p.bind4[i]
		}
	}

	for i := range p.connect {
		r := &p.connect[i]
		if r.Destination.Addr().Is4() {
			p.connect4 = append(p.connect4, r)
		} else {
			p.connect6 = append(p.connect6, r)
		}
	}
	longestFirst := func(a, b *ConnectRule) int {
		return cmp.Compare(b.Destination.Bits(), a.Destination.Bits())
	}
	slices.SortStableFunc(p.connect4, longestFirst)
	slices.SortStableFunc(p.connect6, longestFirst)
	return p, nil
}

func originOr(origin string, i int) string {
	if origin != "" {
		return origin
	}
	return fmt.Sprintf("index %d", i)
}

// Connect returns the rule for a connect() to dst and the source its selector
// chose for the caller pid.
//
// An IPv4-mapped dst is matched against the IPv4 rules and the source is then
// plain IPv4: the caller maps it. The zone of dst is ignored. The longest
// matching prefix wins.
func (p *Policy) Connect(dst netip.Addr, pid int) (src netip.Addr, rule *ConnectRule, ok bool) {
	m, ok := p.MatchConnect(dst)
	if !ok {
		return netip.Addr{}, nil, false
	}
	return m.Source(pid), m.connect, true
}

// Bind returns the rule for a bind() on the wildcard address of a socket of
// the given family (v6: ::, else 0.0.0.0) to port, and the source its
// selector chose for the caller pid.
//
// Rules are tried in file order; the first whose port range contains port and
// that has a source for the family wins. For v6, a rule without IPv6 sources
// offers its IPv4 ones, which the caller maps to ::ffff:a.b.c.d.
func (p *Policy) Bind(v6 bool, port uint16, pid int) (src netip.Addr, rule *BindRule, ok bool) {
	m, ok := p.MatchBind(v6, port)
	if !ok {
		return netip.Addr{}, nil, false
	}
	return m.Source(pid), m.bind, true
}

func pick(s Selector, pid int, srcs []netip.Addr) netip.Addr {
	i := s.Select(Call{Pid: pid, Sources: srcs})
	if uint(i) >= uint(len(srcs)) {
		// A broken selector must not take the supervisor down with it.
		i = 0
	}
	return srcs[i]
}

// ConnectRules returns copies of the connect rules in file order.
func (p *Policy) ConnectRules() []ConnectRule {
	out := slices.Clone(p.connect)
	for i := range out {
		out[i].Sources = slices.Clone(out[i].Sources)
	}
	return out
}

// BindRules returns copies of the bind rules in file order.
func (p *Policy) BindRules() []BindRule {
	out := slices.Clone(p.bind)
	for i := range out {
		out[i].Sources = slices.Clone(out[i].Sources)
	}
	return out
}
