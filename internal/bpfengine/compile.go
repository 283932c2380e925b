//go:build linux

package bpfengine

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// ErrPolicyUnsupported is wrapped by the error of [Unsupported].
var ErrPolicyUnsupported = errors.New("policy needs the seccomp engine")

// Limits of one policy in maps, as vipa.h has them.
const (
	maxSources = 16       // VIPA_MAX_SOURCES
	maxRules   = 2048 / 2 // VIPA_MAX_RULES: two generations' worth
	maxChain   = len(vipaVipaChain{}.Rules)
)

// kindBits is VIPA_KIND_BITS: the kind byte's share of a trie key's
// prefixlen.
const kindBits = 8

// ruleInfo is what the counters of a rule id are reported under.
type ruleInfo struct {
	origin  string
	sources []netip.Addr // in the order of the rule's map entry
}

// generation is a policy compiled to map entries: the trie's, and the rules
// and sources they name by id.
type generation struct {
	entries map[vipaVipaKey]*vipaVipaChain
	rules   map[uint32]vipaVipaRule
	sources map[vipaVipaSourceKey]vipaVipaAddr
	infos   map[uint32]ruleInfo
	rrKeys  []uint64
}

// Unsupported returns nil, or why p needs the seccomp engine, naming the
// rule's FILE:LINE: [[interface]] rules (the kernel's route is not known to
// a sock_addr program), and rules beyond the maps' limits.
func Unsupported(p *policy.Policy) error {
	_, err := compile(p, nil, new(uint32))
	return err
}

// compile turns p into one generation of trie entries, numbering its rules
// from *nextID on. Unless p says absent_sources = "use", each rule gets the
// sources that are in present (nil: all), in rule order, as
// policy.Match.Present gives them: so the programs choose among present
// sources without looking them up, and a change of the host's addresses is a
// new generation like a reload.
func compile(p *policy.Policy, present *policy.AddrSet, nextID *uint32) (*generation, error) {
	g := &generation{entries: map[vipaVipaKey]*vipaVipaChain{}, rules: map[uint32]vipaVipaRule{},
		sources: map[vipaVipaSourceKey]vipaVipaAddr{}, infos: map[uint32]ruleInfo{}}
	if p.Options().AbsentSources == policy.AbsentUse {
		present = nil
	}
	connect := p.ConnectRules()
	var rules4, rules6 []ruleEntry
	for _, r := range connect {
		if r.Interface != "" {
			return nil, fmt.Errorf("%s: [[interface]] rule: %w (a connect hook cannot see the route)", r.Origin, ErrPolicyUnsupported)
		}
		if len(r.Sources) > maxSources {
			return nil, fmt.Errorf("%s: %d sources: %w (the bpf engine takes at most %d per rule)", r.Origin, len(r.Sources), ErrPolicyUnsupported, maxSources)
		}
		ports := r.Ports
		if ports == (policy.PortRange{}) {
			ports = policy.AllPorts
		}
		id := g.add(nextID, r.Policy, r.OnError, presentOf(r.Sources, present), r.Origin, r.RuleKey())
		e := ruleEntry{dst: r.Destination, origin: r.Origin,
			match: vipaVipaMatch{Rule: id, PortLo: ports.Lo, PortHi: ports.Hi, Proto: uint8(protoOf(r.Protocol))}}
		if r.Destination.Addr().Is4() {
			rules4 = append(rules4, e)
		} else {
			rules6 = append(rules6, e)
		}
	}
	for _, rules := range [][]ruleEntry{rules4, rules6} {
		if err := g.addConnect(rules); err != nil {
			return nil, err
		}
	}
	if err := g.addBind(p, present, nextID); err != nil {
		return nil, err
	}
	if len(g.rules) > maxRules {
		return nil, fmt.Errorf("%d rules: %w (the bpf engine takes at most %d)", len(g.rules), ErrPolicyUnsupported, maxRules)
	}
	return g, nil
}

type ruleEntry struct {
	dst    netip.Prefix
	origin string
	match  vipaVipaMatch
}

// add adds a rule with the sources srcs under the next id, and returns it.
func (g *generation) add(nextID *uint32, name string, onErr policy.OnError, srcs []netip.Addr, origin, ruleKey string) uint32 {
	id := *nextID
	*nextID++
	r := vipaVipaRule{Policy: uint8(policyOf(name)), Nsources: uint32(len(srcs))}
	if onErr == policy.OnErrorFail {
		r.OnError = uint8(vipaVipaOnErrorVIPA_ON_ERROR_FAIL)
	}
	if name == policy.RR {
		r.RrKey = rrKey(origin, ruleKey)
		g.rrKeys = append(g.rrKeys, r.RrKey)
	}
	for i, a := range srcs {
		g.sources[vipaVipaSourceKey{Rule: id, Index: uint32(i)}] = addrOf(a)
	}
	g.rules[id] = r
	g.infos[id] = ruleInfo{origin: origin, sources: srcs}
	return id
}

// addConnect adds an entry for each destination prefix of rules (of one
// family, in file order): the rules a destination whose longest matching
// prefix it is may match, longest prefix first and in file order among
// equal lengths, as policy.MatchConnect tries them. Those are exactly the
// rules whose prefix contains the entry's: every prefix that contains a
// destination and is not longer than another that does contains that one.
func (g *generation) addConnect(rules []ruleEntry) error {
	for _, e := range rules {
		var chain []ruleEntry
		for _, r := range rules {
			if r.dst.Bits() <= e.dst.Bits() && r.dst.Contains(e.dst.Addr()) {
				chain = append(chain, r)
			}
		}
		slices.SortStableFunc(chain, func(a, b ruleEntry) int { return cmp.Compare(b.dst.Bits(), a.dst.Bits()) })
		if len(chain) > maxChain {
			return fmt.Errorf("%s: destination %s is within %d rules' destinations: %w (the bpf engine follows at most %d)", e.origin, e.dst, len(chain), ErrPolicyUnsupported, maxChain)
		}
		c := new(vipaVipaChain)
		for i, r := range chain {
			c.Rules[i] = r.match
		}
		c.Nrules = uint32(len(chain))
		g.entries[connectKey(e.dst)] = c
	}
	return nil
}

// addBind adds the [[bind]] rules for each family, in file order, with the
// candidates policy.MatchBind offers (Policy.BindCandidates): for IPv6 a
// rule's IPv6 sources, or its IPv4 ones mapped, 0.0.0.0 staying ::.
func (g *generation) addBind(p *policy.Policy, present *policy.AddrSet, nextID *uint32) error {
	rules := p.BindRules()
	if len(rules) > maxChain {
		return fmt.Errorf("%s: %d [[bind]] rules: %w (the bpf engine takes at most %d)", rules[maxChain].Origin, len(rules), ErrPolicyUnsupported, maxChain)
	}
	c4, c6 := new(vipaVipaChain), new(vipaVipaChain)
	for i, r := range rules {
		for _, f := range []struct {
			c    *vipaVipaChain
			srcs []netip.Addr
			name string
		}{{c4, p.BindCandidates(i, false), "ipv4"}, {c6, p.BindCandidates(i, true), "ipv6"}} {
			if len(f.srcs) == 0 && r.Policy != policy.Kernel {
				continue
			}
			if len(f.srcs) > maxSources {
				return fmt.Errorf("%s: %d sources: %w (the bpf engine takes at most %d per family)", r.Origin, len(f.srcs), ErrPolicyUnsupported, maxSources)
			}
			id := g.add(nextID, r.Policy, r.OnError, presentOf(f.srcs, present), r.Origin, r.RuleKey()+" family="+f.name)
			f.c.Rules[f.c.Nrules] = vipaVipaMatch{Rule: id, PortLo: r.Ports.Lo, PortHi: r.Ports.Hi}
			f.c.Nrules++
		}
	}
	if c4.Nrules > 0 {
		g.entries[vipaVipaKey{Prefixlen: kindBits, Kind: uint8(vipaVipaKindVIPA_KIND_BIND4)}] = c4
	}
	if c6.Nrules > 0 {
		g.entries[vipaVipaKey{Prefixlen: kindBits, Kind: uint8(vipaVipaKindVIPA_KIND_BIND6)}] = c6
	}
	return nil
}

// presentOf returns the addresses of srcs in present, in order; all of them
// for a nil present. The wildcard (a [[bind]] rule's 0.0.0.0) is always
// present.
func presentOf(srcs []netip.Addr, present *policy.AddrSet) []netip.Addr {
	if present == nil {
		return srcs
	}
	var out []netip.Addr
	for _, a := range srcs {
		if present.Has(a) {
			out = append(out, a)
		}
	}
	return out
}

func connectKey(dst netip.Prefix) vipaVipaKey {
	k := vipaVipaKey{Prefixlen: uint32(kindBits + dst.Bits())}
	if dst.Addr().Is4() {
		k.Kind = uint8(vipaVipaKindVIPA_KIND_CONNECT4)
		a := dst.Addr().As4()
		copy(k.Addr[:], a[:])
	} else {
		k.Kind = uint8(vipaVipaKindVIPA_KIND_CONNECT6)
		k.Addr = dst.Addr().As16()
	}
	return k
}

// addrOf is a's form in maps: IPv6, or IPv4 mapped.
func addrOf(a netip.Addr) vipaVipaAddr { return vipaVipaAddr{B: a.As16()} }

func protoOf(p policy.Protocol) vipaVipaProto {
	switch p {
	case policy.TCP:
		return vipaVipaProtoVIPA_PROTO_TCP
	case policy.UDP:
		return vipaVipaProtoVIPA_PROTO_UDP
	}
	return vipaVipaProtoVIPA_PROTO_ANY
}

func policyOf(name string) vipaVipaPolicy {
	switch name {
	case policy.Random:
		return vipaVipaPolicyVIPA_POLICY_RANDOM
	case policy.LRR:
		return vipaVipaPolicyVIPA_POLICY_LRR
	case policy.RR:
		return vipaVipaPolicyVIPA_POLICY_RR
	case policy.LC:
		return vipaVipaPolicyVIPA_POLICY_LC
	case policy.Kernel:
		return vipaVipaPolicyVIPA_POLICY_KERNEL
	}
	return vipaVipaPolicyVIPA_POLICY_ONEVIPA
}

// rrKey names an rr rule's counter: the same rule of the same file, as
// internal/rrstate names its counter files, wherever it is in the file.
func rrKey(origin, ruleKey string) uint64 {
	file := origin
	if i := strings.LastIndexByte(origin, ':'); i >= 0 {
		file = origin[:i]
	}
	sum := sha256.Sum256([]byte(file + "\x00" + ruleKey))
	return binary.LittleEndian.Uint64(sum[:8])
}

// samePresence reports whether every source of p's rules is present in
// old exactly when it is in new (nil holds every address): then the rules
// compiled for either choose alike.
func samePresence(p *policy.Policy, old, new *policy.AddrSet) bool {
	has := func(set *policy.AddrSet, a netip.Addr) bool { return set == nil || set.Has(a) }
	same := func(srcs []netip.Addr) bool {
		for _, a := range srcs {
			if has(old, a) != has(new, a) {
				return false
			}
		}
		return true
	}
	for _, r := range p.ConnectRules() {
		if !same(r.Sources) {
			return false
		}
	}
	for _, r := range p.BindRules() {
		if !same(r.Sources) {
			return false
		}
	}
	return true
}
