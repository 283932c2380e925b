package policy

import (
	"cmp"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strconv"
)

// Policy is a validated set of rules. It is immutable after [New] and safe
// for concurrent use; the state of its lrr, rr and lc selectors changes with
// every call, by design.
type Policy struct {
	connect []ConnectRule
	bind    []BindRule

	// Connect rules of each family, longest prefix first and in file order
	// among equal lengths, so the first that matches a call wins.
	connect4, connect6 []connectEntry

	// Interface rules (connect rules with an Interface) with sources or
	// policy kernel for each family, in file order, and the outgoing
	// interface of a destination (Env.Route).
	iface4, iface6 []ifaceEntry
	route          func(dst netip.Addr) (string, bool)

	// Bind candidates per rule, in file order: bind4[i] and bind6[i] are
	// the sources of bind[i] for a wildcard bind on AF_INET and AF_INET6,
	// and bindSel4[i] and bindSel6[i] choose among them.
	bind4, bind6       [][]netip.Addr
	bindSel4, bindSel6 []Selector

	// Whether the caller gave the rule its Selector; WithEnv keeps those.
	connectCustom, bindCustom []bool

	// The host's addresses (Env.Present), and each rule's sources present
	// among them: connectPresent[i] for connect[i], bindPresent4[i] and
	// bindPresent6[i] for bind4[i] and bind6[i].
	present                    func() *AddrSet
	connectPresent             []presentCache
	bindPresent4, bindPresent6 []presentCache

	usesProtocol bool // some connect rule has a Protocol

	opts Options
}

// New validates the rules and returns a Policy that owns copies of them.
//
// A rule with a nil Selector gets the one its Policy names, which keeps its
// state (if any) in this process: see [Policy.WithEnv]. An empty Policy name
// means onevipa; the policy kernel needs no sources. A connect rule that
// could never match, because an earlier rule with the same destination
// matches every port and protocol it does, is an error. Errors are
// [*RuleError].
func New(connect []ConnectRule, bind []BindRule) (*Policy, error) {
	return build(connect, bind, Env{})
}

func build(connect []ConnectRule, bind []BindRule, env Env) (*Policy, error) {
	p := &Policy{
		connect:       make([]ConnectRule, len(connect)),
		bind:          make([]BindRule, len(bind)),
		bind4:         make([][]netip.Addr, len(bind)),
		bind6:         make([][]netip.Addr, len(bind)),
		bindSel4:      make([]Selector, len(bind)),
		bindSel6:      make([]Selector, len(bind)),
		connectCustom: make([]bool, len(connect)),
		bindCustom:    make([]bool, len(bind)),

		present:        env.Present,
		route:          env.Route,
		connectPresent: make([]presentCache, len(connect)),
		bindPresent4:   make([]presentCache, len(bind)),
		bindPresent6:   make([]presentCache, len(bind)),
	}
	// Rules of the same destination, or of the same interface.
	type target struct {
		iface string
		dst   netip.Prefix
	}
	seen := make(map[target][]int, len(connect))
	for i, r := range connect {
		kind := "connect"
		if r.Interface != "" {
			kind = "interface"
		}
		fail := func(field string, src int, err error) error {
			return &RuleError{Kind: kind, Index: i, Field: field, Source: src, Err: err}
		}
		if r.Interface != "" {
			if err := CheckInterfaceName(r.Interface); err != nil {
				return nil, fail("name", -1, err)
			}
			if r.Destination != (netip.Prefix{}) {
				return nil, fail("destination", -1, fmt.Errorf("%w: an interface rule has none", ErrInvalidDestination))
			}
		} else if err := CheckDestination(r.Destination); err != nil {
			return nil, fail("destination", -1, err)
		}
		if err := r.Ports.check(); err != nil {
			return nil, fail("ports", -1, err)
		}
		if r.Protocol > UDP {
			return nil, fail("protocol", -1, fmt.Errorf("%w %s", ErrInvalidProtocol, r.Protocol))
		}
		tg := target{r.Interface, r.Destination}
		for _, j := range seen[tg] {
			if r.Interface != "" && families(&r)&^families(&connect[j]) != 0 {
				continue // r serves a family j does not
			}
			if err := shadowed(&connect[j], &r, j); err != nil {
				if r.Interface != "" {
					return nil, fail("name", -1, err)
				}
				return nil, fail("destination", -1, err)
			}
		}
		seen[tg] = append(seen[tg], i)
		if r.Policy == "" {
			r.Policy = OneVIPA
		}
		r.Sources = slices.Clone(r.Sources)
		if len(r.Sources) > 0 || r.Policy != Kernel {
			if k, err := checkSources(r.Sources, func(a netip.Addr) error { return CheckConnectSource(r.Destination, a) }); err != nil {
				return nil, fail("sources", k, err)
			}
		}
		if err := checkPolicy(r.Policy, r.Selector != nil, r.RRMode); err != nil {
			return nil, fail(err.field, -1, err.err)
		}
		if err := checkOnError(r.OnError); err != nil {
			return nil, fail("on_error", -1, err)
		}
		p.connectCustom[i] = r.Selector != nil
		if r.Interface != "" {
			var err error
			if r.Selector, err = p.addInterface(&r, i, env); err != nil {
				return nil, fail("policy", -1, err)
			}
		} else if r.Selector == nil {
			var err error
			if r.Selector, err = newSelector(r.Policy, selectorSpec{key: r.RuleKey(), sources: r.Sources, mode: r.RRMode}, env); err != nil {
				return nil, fail("policy", -1, err)
			}
		}
		if r.Protocol != AnyProtocol {
			p.usesProtocol = true
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
		if r.Policy == "" {
			r.Policy = OneVIPA
		}
		r.Sources = slices.Clone(r.Sources)
		if len(r.Sources) > 0 || r.Policy != Kernel {
			if k, err := checkSources(r.Sources, CheckBindSource); err != nil {
				return nil, fail("sources", k, err)
			}
		}
		if err := checkPolicy(r.Policy, r.Selector != nil, r.RRMode); err != nil {
			return nil, fail(err.field, -1, err.err)
		}
		if err := checkOnError(r.OnError); err != nil {
			return nil, fail("on_error", -1, err)
		}
		for _, a := range r.Sources {
			if a.Is4() {
				p.bind4[i] = append(p.bind4[i], a)
			} else {
				p.bind6[i] = append(p.bind6[i], a)
			}
		}
		shared := false
		if len(p.bind6[i]) == 0 {
			// A dual-stack socket reaches IPv4 through ::ffff:a.b.c.d; but
			// ::ffff:0.0.0.0 would make it IPv4-only, so 0.0.0.0 stays ::.
			p.bind6[i], shared = p.bind4[i], true
			if i0 := slices.Index(p.bind4[i], netip.IPv4Unspecified()); i0 >= 0 {
				p.bind6[i], shared = slices.Clone(p.bind4[i]), false
				p.bind6[i][i0] = netip.IPv6Unspecified()
			}
		}
		p.bindCustom[i] = r.Selector != nil
		if r.Selector != nil {
			p.bindSel4[i], p.bindSel6[i] = r.Selector, r.Selector
		} else {
			// Each family has its own candidates, so its own rotation or
			// counts, unless both families have the same ones.
			key := r.RuleKey()
			var err error
			if len(p.bind4[i]) > 0 {
				if p.bindSel4[i], err = newSelector(r.Policy, selectorSpec{key: key + " family=ipv4", sources: p.bind4[i], mode: r.RRMode}, env); err != nil {
					return nil, fail("policy", -1, err)
				}
			}
			if shared {
				p.bindSel6[i] = p.bindSel4[i]
			} else if len(p.bind6[i]) > 0 {
				if p.bindSel6[i], err = newSelector(r.Policy, selectorSpec{key: key + " family=ipv6", sources: p.bind6[i], mode: r.RRMode}, env); err != nil {
					return nil, fail("policy", -1, err)
				}
			}
			r.Selector = p.bindSel4[i]
			if r.Selector == nil {
				r.Selector = p.bindSel6[i]
			}
		}
		p.bind[i] = r
	}

	for i := range p.connect {
		e := connectEntry{&p.connect[i], &p.connectPresent[i]}
		if e.rule.Interface != "" {
			continue
		}
		if e.rule.Destination.Addr().Is4() {
			p.connect4 = append(p.connect4, e)
		} else {
			p.connect6 = append(p.connect6, e)
		}
	}
	for _, list := range [][]ifaceEntry{p.iface4, p.iface6} {
		for k := range list {
			list[k].rule = &p.connect[list[k].index]
		}
	}
	longestFirst := func(a, b connectEntry) int {
		return cmp.Compare(b.rule.Destination.Bits(), a.rule.Destination.Bits())
	}
	slices.SortStableFunc(p.connect4, longestFirst)
	slices.SortStableFunc(p.connect6, longestFirst)
	return p, nil
}

// addInterface adds interface rule r, connect[index], its Sources checked,
// to p.iface4 and p.iface6, each with the rule's sources of that family and
// a selector of its own, as a [[bind]] rule's, and returns the rule's
// Selector. build points the entries at the rule once it has stored it.
func (p *Policy) addInterface(r *ConnectRule, index int, env Env) (Selector, error) {
	var srcs4, srcs6 []netip.Addr
	for _, a := range r.Sources {
		if a.Is4() {
			srcs4 = append(srcs4, a)
		} else {
			srcs6 = append(srcs6, a)
		}
	}
	var first Selector
	add := func(list *[]ifaceEntry, srcs []netip.Addr, fam string) error {
		if len(srcs) == 0 && r.Policy != Kernel {
			return nil
		}
		e := ifaceEntry{index: index, sources: srcs, sel: r.Selector, present: new(presentCache)}
		if e.sel == nil && r.Policy != Kernel {
			var err error
			if e.sel, err = newSelector(r.Policy, selectorSpec{key: r.RuleKey() + " family=" + fam, sources: srcs, mode: r.RRMode}, env); err != nil {
				return err
			}
		}
		if first == nil {
			first = e.sel
		}
		*list = append(*list, e)
		return nil
	}
	if err := add(&p.iface4, srcs4, "ipv4"); err != nil {
		return nil, err
	}
	if err := add(&p.iface6, srcs6, "ipv6"); err != nil {
		return nil, err
	}
	return first, nil
}

// families returns the families an interface rule serves: bit 0 IPv4, bit 1
// IPv6, by its sources; both for policy kernel.
func families(r *ConnectRule) int {
	if r.Policy == Kernel {
		return 3
	}
	f := 0
	for _, a := range r.Sources {
		if a.Is4() {
			f |= 1
		} else {
			f |= 2
		}
	}
	return f
}

// ifaceEntry is an interface rule's part for one family.
type ifaceEntry struct {
	rule    *ConnectRule // set once the rule is stored
	index   int          // of the rule in p.connect
	sources []netip.Addr
	sel     Selector // nil for policy kernel
	present *presentCache
}

// connectEntry is a connect rule with the cache of its present sources.
type connectEntry struct {
	rule    *ConnectRule
	present *presentCache
}

// shadowed returns an error if rule r, later in the file than rule j with
// the same destination, could never match: j comes first among rules of
// equal prefix length and matches every port and protocol r does.
func shadowed(j, r *ConnectRule, index int) error {
	if j.Protocol != AnyProtocol && j.Protocol != r.Protocol || !j.Ports.orAll().covers(r.Ports.orAll()) {
		return nil
	}
	dup, target := ErrDuplicateDestination, r.Destination.String()
	if r.Interface != "" {
		dup, target = ErrDuplicateInterface, strconv.Quote(r.Interface)
	}
	if j.Ports == r.Ports && j.Protocol == r.Protocol {
		what := ""
		if r.Ports != (PortRange{}) || r.Protocol != AnyProtocol {
			what = " with the same ports and protocol"
		}
		return fmt.Errorf("%w %s: the rule at %s has the same one%s, so this rule would never match", dup, target, originOr(j.Origin, index), what)
	}
	return fmt.Errorf("%w %s: the rule at %s has the same one and matches every port and protocol this rule does, so this rule would never match; put the narrower rule first", dup, target, originOr(j.Origin, index))
}

// policyError is what checkPolicy found wrong, and with which field.
type policyError struct {
	field string
	err   error
}

func checkPolicy(name string, custom bool, mode fs.FileMode) *policyError {
	if !custom || name == Kernel {
		if err := CheckName(name); err != nil {
			return &policyError{"policy", err}
		}
	}
	if mode != 0 {
		if name != RR {
			return &policyError{"rr_mode", fmt.Errorf("%w: rr_mode is for policy %q only, not %q", ErrInvalidRRMode, RR, name)}
		}
		if err := CheckRRMode(mode); err != nil {
			return &policyError{"rr_mode", err}
		}
	}
	return nil
}

func originOr(origin string, i int) string {
	if origin != "" {
		return origin
	}
	return fmt.Sprintf("index %d", i)
}

// UsesProtocol reports whether some connect rule names a protocol: only then
// does a caller need to tell [Policy.MatchConnect] the protocol of a call.
func (p *Policy) UsesProtocol() bool { return p.usesProtocol }

func pick(s Selector, pid int, srcs []netip.Addr) netip.Addr {
	if s == nil || len(srcs) == 0 {
		return netip.Addr{}
	}
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
