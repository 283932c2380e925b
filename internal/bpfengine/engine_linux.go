//go:build linux

package bpfengine

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

// Engine is one instance: a policy served by the programs at one cgroup.
// The programs and maps are shared by every instance; this one's entries
// are keyed by its id, the cgroup's, from Attach on, and the links tie the
// programs to the cgroup.
type Engine struct {
	log   *slog.Logger
	cache *cache
	objs  vipaObjects

	mu      sync.Mutex
	id      uint64    // the cgroup's id; 0 until Attach
	trie    *ebpf.Map // the generation in force
	pol     *policy.Policy
	present *policy.AddrSet // nil: every source is present
	// The rule ids of the generation in force and of the one before.
	curIDs, oldIDs []uint32
	links          []link.Link
	held           *instanceHold // the instance's lock in the cache; nil without a cache
	nextID         uint32
	rules          map[uint32]ruleInfo // of every generation, for Snapshot
}

// Load loads the programs and maps for p, attached to nothing; Attach
// installs p. The error wraps [ErrPolicyUnsupported] for a policy the
// engine cannot serve.
func Load(p *policy.Policy, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log, rules: map[uint32]ruleInfo{}}
	e.pol = p
	if err := Unsupported(p); err != nil {
		return nil, err
	}
	c, objs, err := openCache()
	switch {
	case errors.Is(err, ErrUntrustedCache):
		return nil, fmt.Errorf("bpf engine: %w", err)
	case err != nil:
		// No cache (a user other than root, with CAP_BPF, cannot write in
		// root's BPF filesystem): objects of this instance alone, loaded
		// at every start, and rr counters of its own.
		log.Warn("bpf engine: loading the programs for this instance alone", "err", err)
		if objs, err = loadPrivate(); err != nil {
			return nil, err
		}
	}
	e.cache, e.objs = c, *objs
	return e, nil
}

// install makes g the generation in force for the instance e.id. Its rules and sources go in
// first, under ids no other generation uses; then a new trie, filled, goes in
// the policy slot with one update, so that every call sees either the old
// rules or the new ones, whole. A program that read the old trie keeps it
// until it returns; the old generation's rules and sources stay until the
// next install.
func (e *Engine) install(g *generation) error {
	trie, err := ebpf.NewMap(trieSpec)
	if err != nil {
		return fmt.Errorf("bpf engine: create rule trie: %w", err)
	}
	defer func() {
		if trie != nil {
			_ = trie.Close()
		}
	}()
	var ids []uint32
	for id, r := range g.rules {
		ids = append(ids, id)
		if err := e.objs.Rules.Put(vipaVipaRuleKey{Instance: e.id, Rule: id}, r); err != nil {
			e.forget(ids)
			return fmt.Errorf("bpf engine: add rule: %w", err)
		}
	}
	for k, a := range g.sources {
		k.Instance = e.id
		if err := e.objs.Sources.Put(k, a); err != nil {
			e.forget(ids)
			return fmt.Errorf("bpf engine: add source: %w", err)
		}
	}
	for k, c := range g.entries {
		if err := trie.Put(k, c); err != nil {
			e.forget(ids)
			return fmt.Errorf("bpf engine: fill rule trie: %w", err)
		}
	}
	for _, k := range g.rrKeys {
		// A fresh counter starts at a random value, as rrstate's do, so
		// that instances that never overlap still spread their first calls.
		start := rand.Uint64N(1 << 32)
		if err := e.objs.Rr.Update(k, start, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			e.forget(ids)
			return fmt.Errorf("bpf engine: create rr counter: %w", err)
		}
	}
	if err := e.objs.Policy.Put(e.id, trie); err != nil {
		e.forget(ids)
		return fmt.Errorf("bpf engine: install rules: %w", err)
	}
	if e.trie != nil {
		_ = e.trie.Close()
	}
	e.trie, trie = trie, nil
	e.forget(e.oldIDs)
	e.oldIDs, e.curIDs = e.curIDs, ids
	for id, r := range g.infos {
		e.rules[id] = r
	}
	return nil
}

// forget removes the rules ids and their sources from the maps. A delete
// that fails leaves an entry no trie names: it only takes room, and a later
// install that finds the map full says so.
func (e *Engine) forget(ids []uint32) {
	for _, id := range ids {
		key := vipaVipaRuleKey{Instance: e.id, Rule: id}
		var r vipaVipaRule
		if err := e.objs.Rules.Lookup(key, &r); err == nil {
			for i := range r.Nsources {
				_ = e.objs.Sources.Delete(vipaVipaSourceKey{Instance: e.id, Rule: id, Index: i})
			}
		}
		_ = e.objs.Rules.Delete(key)
	}
}

// hooks are the programs and where they attach.
func (e *Engine) hooks() []struct {
	prog   *ebpf.Program
	attach ebpf.AttachType
} {
	return []struct {
		prog   *ebpf.Program
		attach ebpf.AttachType
	}{
		{e.objs.VipaConnect4, ebpf.AttachCGroupInet4Connect},
		{e.objs.VipaConnect6, ebpf.AttachCGroupInet6Connect},
		{e.objs.VipaBind4, ebpf.AttachCGroupInet4Bind},
		{e.objs.VipaBind6, ebpf.AttachCGroupInet6Bind},
		{e.objs.VipaSendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
		{e.objs.VipaSendmsg6, ebpf.AttachCGroupUDP6Sendmsg},
	}
}

// Attach installs the policy as the instance of the cgroup cgroupFD (a
// directory fd) and attaches the programs there with bpf_links: they then
// apply to every process of the cgroup and of its descendants. Programs of
// cgroups above run after these, and see a socket bound already. An engine
// attaches once.
func (e *Engine) Attach(cgroupFD int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.id != 0 {
		return errors.New("bpf engine: attached already")
	}
	id, err := cgroupID(cgroupFD)
	if err != nil {
		return err
	}
	g, err := compile(e.pol, e.present, &e.nextID)
	if err != nil {
		return err
	}
	if e.cache != nil {
		// Held before the first entry is added: other instances leave
		// entries of a held id alone (cache.removeStale).
		if e.held, err = e.cache.holdInstance(id); err != nil {
			return err
		}
	}
	var links []link.Link
	fail := func(err error) error {
		for _, l := range links {
			_ = l.Close()
		}
		e.removeEntries()
		e.id = 0
		_ = e.release() // err is what the caller hears
		return err
	}
	// Attached first: the kernel makes the cgroup's storage, which tells
	// other instances that the entries keyed by id are not stale.
	for _, h := range e.hooks() {
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: cgroupFD, Program: h.prog, Attach: h.attach})
		if err != nil {
			return fail(fmt.Errorf("bpf engine: attach %s: %w", h.attach, err))
		}
		links = append(links, l)
	}
	e.id = id
	if err := e.install(g); err != nil {
		return fail(err)
	}
	// The attachment's storage exists now: tell the programs whose
	// entries to look up. Until then they leave every call alone.
	perCPU := make([]vipaVipaInstance, ebpf.MustPossibleCPU())
	for i := range perCPU {
		perCPU[i].Id = id
	}
	if err := e.objs.Instances.Update(id, perCPU, ebpf.UpdateExist); err != nil {
		return fail(fmt.Errorf("bpf engine: set the instance of the cgroup: %w", err))
	}
	e.links = links
	return nil
}

// release gives up the instance's lock, its entries being gone.
func (e *Engine) release() error {
	if e.held == nil {
		return nil
	}
	err := e.held.release()
	e.held = nil
	return err
}

// cgroupID is the id of the cgroup whose directory fd is open: its inode
// number, as the kernel's cgroup id is on 64-bit inodes (kernfs).
func cgroupID(fd int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("bpf engine: cgroup id: %w", err)
	}
	return st.Ino, nil
}

// removeEntries removes every entry of the instance from the shared maps:
// its generation, rules and sources, lrr's rotations and the per-source
// counters.
func (e *Engine) removeEntries() {
	if e.id != 0 {
		removeInstance(&e.objs, e.id)
	}
	e.curIDs, e.oldIDs = nil, nil
}

// keysOf returns the keys of m. A map that changes meanwhile may give some
// twice or miss some: callers delete what they find, and find the rest the
// next time.
func keysOf[K any](m *ebpf.Map) []K {
	var keys []K
	var cur K
	var prev any // nil: the first key
	for {
		var next K
		if err := m.NextKey(prev, &next); err != nil {
			return keys
		}
		keys = append(keys, next)
		cur = next
		prev = &cur
	}
}

// Reload swaps the rule set for p's, atomically: a call sees the old rules
// or the new ones, never a mix. The state of lrr and lc rules starts over
// with the new rules, as the seccomp engine's does; rr counters stay those
// of the same rules.
func (e *Engine) Reload(p *policy.Policy) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, err := compile(p, e.present, &e.nextID)
	if err != nil {
		return err
	}
	if e.id != 0 {
		if err := e.install(g); err != nil {
			return err
		}
	}
	e.pol = p
	return nil
}

// SetPresent tells the engine which addresses the host has now, for
// absent_sources = "skip": the rules then choose among those of their
// sources, in a new generation installed as atomically as a reload. Until
// the first call, or after one with nil, every source is present.
func (e *Engine) SetPresent(set *policy.AddrSet) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if samePresence(e.pol, e.present, set) {
		// The rules would choose as they do: no new generation, but the
		// set is kept for the next Reload's rules.
		e.present = set
		return nil
	}
	g, err := compile(e.pol, set, &e.nextID)
	if err != nil {
		return err
	}
	if e.id != 0 {
		if err := e.install(g); err != nil {
			return err
		}
	}
	e.present = set
	return nil
}

// SetSockets sets the live socket counts of lc's sources, from sock_diag;
// the programs add their own binds to them until the next call.
func (e *Engine) SetSockets(counts map[netip.Addr]int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for a, n := range counts {
		if err := e.objs.Lc.Put(addrOf(a), int64(n)); err != nil {
			return fmt.Errorf("bpf engine: lc counts: %w", err)
		}
	}
	return nil
}

// Snapshot sums the per-CPU counters into the schema of the seccomp
// engine's. The sendmsg hook counts sendto and sendmsg alike, under
// "sendmsg"; sendto and sendmmsg stay 0.
func (e *Engine) Snapshot() rewrite.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := rewrite.Snapshot{Calls: map[string]uint64{}, LeftAlone: map[string]uint64{}}
	for op := notify.OpConnect; op < notify.NumOps; op++ {
		out.Calls[op.String()] = 0
	}
	for r := range rewrite.NumReasons {
		out.LeftAlone[r.String()] = 0
	}
	if e.id == 0 {
		return out
	}
	var perCPU []vipaVipaInstance
	if err := e.objs.Instances.Lookup(e.id, &perCPU); err != nil {
		e.log.Warn("bpf engine: read counters", "err", err)
		return out
	}
	for _, in := range perCPU {
		s := in.Stats
		out.Calls[notify.OpConnect.String()] += s.Calls[vipaVipaOpVIPA_OP_CONNECT]
		out.Calls[notify.OpBind.String()] += s.Calls[vipaVipaOpVIPA_OP_BIND]
		out.Calls[notify.OpSendmsg.String()] += s.Calls[vipaVipaOpVIPA_OP_SENDMSG]
		out.Bound += s.Bound
		out.Failed += s.Failed
		for r := range rewrite.NumReasons {
			if int(r) < len(s.LeftAlone) {
				out.LeftAlone[r.String()] += s.LeftAlone[r]
			}
		}
	}
	var k vipaVipaSourceKey
	var v []uint64
	it := e.objs.SourceStats.Iterate()
	for it.Next(&k, &v) {
		if k.Instance != e.id {
			continue
		}
		info, ok := e.rules[k.Rule]
		if !ok || int(k.Index) >= len(info.sources) {
			continue
		}
		var n uint64
		for _, c := range v {
			n += c
		}
		out.PerSource = append(out.PerSource, rewrite.SourceCount{Rule: info.origin, Source: info.sources[k.Index], Count: n})
	}
	if err := it.Err(); err != nil {
		e.log.Warn("bpf engine: read per-source counters", "err", err)
	}
	out.PerSource = merge(out.PerSource)
	return out
}

// merge adds up the counts of the same rule and source (one rule has an id
// per generation) and sorts them as the seccomp engine does.
func merge(in []rewrite.SourceCount) []rewrite.SourceCount {
	sort.Slice(in, func(i, j int) bool {
		a, b := in[i], in[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Source.Less(b.Source)
	})
	var out []rewrite.SourceCount
	for _, c := range in {
		if n := len(out); n > 0 && out[n-1].Rule == c.Rule && out[n-1].Source == c.Source {
			out[n-1].Count += c.Count
			continue
		}
		out = append(out, c)
	}
	return out
}

// Close detaches the programs, removes the instance's entries and frees
// every map.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, l := range e.links {
		errs = append(errs, l.Close())
	}
	e.links = nil
	e.removeEntries()
	e.id = 0
	errs = append(errs, e.release())
	if e.trie != nil {
		errs = append(errs, e.trie.Close())
		e.trie = nil
	}
	if e.cache != nil {
		errs = append(errs, e.cache.close(&e.objs))
		e.cache = nil
	}
	errs = append(errs, e.objs.Close())
	return errors.Join(errs...)
}
