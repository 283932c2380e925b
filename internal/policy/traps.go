package policy

// Traps are the calls a policy needs the seccomp filter to send to the
// supervisor, beyond connect(2), which is always trapped. Each trapped call
// costs a round trip, and each is a window in which a signal handler
// installed without SA_RESTART makes the call fail with EINTR before the
// supervisor has seen it, which bind and UDP sendto never do by themselves;
// so the filter traps only what some rule can act on. A rule with policy
// kernel binds nothing and needs no trap.
type Traps struct {
	// Bind: some [[bind]] rule binds, or wildcard binds to port 0 are
	// deferred for the connect rules (DefersWildcardBinds).
	Bind bool
	// SendtoUDP: some [[connect]] rule that binds can match UDP (it names
	// no protocol, or "udp"): every sendto with an address is trapped.
	SendtoUDP bool
	// SendtoTCP: some [[connect]] rule that binds can match TCP: a sendto
	// with MSG_FASTOPEN, which connects, is trapped.
	SendtoTCP bool
}

// Traps returns the calls p's rules need trapped.
func (p *Policy) Traps() Traps {
	var t Traps
	for _, r := range p.bind {
		t.Bind = t.Bind || r.Policy != Kernel
	}
	t.Bind = t.Bind || p.DefersWildcardBinds()
	for _, r := range p.connect {
		if r.Policy == Kernel {
			continue
		}
		t.SendtoUDP = t.SendtoUDP || r.Protocol != TCP
		t.SendtoTCP = t.SendtoTCP || r.Protocol != UDP
	}
	return t
}

// Untrapped returns the origins ("FILE:LINE") of p's rules that need a call
// trapped that t does not trap: after a reload, the filter loaded at start
// is t, and those rules apply to those calls only once the program is
// started again.
func (p *Policy) Untrapped(t Traps) []string {
	var out []string
	wildcard := false
	for _, r := range p.bind {
		if r.Policy != Kernel && !t.Bind {
			out = append(out, r.Origin+" (bind)")
		}
	}
	for _, r := range p.connect {
		if r.Policy == Kernel {
			continue
		}
		if r.Protocol != TCP && !t.SendtoUDP || r.Protocol != UDP && !t.SendtoTCP {
			out = append(out, r.Origin+" (sendto)")
		}
		if !t.Bind && !wildcard && p.DefersWildcardBinds() {
			// Once: every binding connect rule would serve such sockets.
			out = append(out, r.Origin+" (wildcard bind)")
			wildcard = true
		}
	}
	return out
}
