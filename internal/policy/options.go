package policy

import (
	"errors"
	"fmt"
	"strconv"
)

// Options are a policy file's [options]. Those about what the filter traps
// take effect at the next start, not on reload: the filter is loaded once,
// before the program starts.
type Options struct {
	// TrapSendmsg traps every sendmsg(2), so that a datagram sent with a
	// destination in struct msghdr gets its source like sendto's. The filter
	// cannot see inside msghdr: every sendmsg of the program, whatever its
	// socket, then costs a round trip to the supervisor.
	TrapSendmsg bool
	// AllowIOUring lets io_uring_setup(2) through. io_uring can connect
	// sockets without a syscall the filter sees: those connections are not
	// rewritten. By default io_uring_setup fails with ENOSYS and programs
	// fall back to ordinary syscalls.
	AllowIOUring bool
	// KeepWildcardBinds is defer_wildcard_binds = false. By default a
	// bind(2) to 0.0.0.0:0 or [::]:0, which chooses neither an address
	// nor a port, is made to choose nothing at all (the kernel's
	// IP_BIND_ADDRESS_NO_PORT), so that the socket is still unbound at
	// connect(2) or sendto(2) and the connect rule gives it its source,
	// as DNS tools (dig, host, nslookup) need: they bind so before every
	// query. The price: getsockname(2) between the two shows port 0, not
	// the port the kernel would have picked at bind. With KeepWildcardBinds
	// such sockets keep the kernel's port at bind, and its source.
	KeepWildcardBinds bool
	// AbsentSources says what a rule does with a source that is not an
	// address of the host ([Env.Present]); it applies on reload too.
	AbsentSources AbsentSources
	// Engine is the engine the file asks for; --engine overrides it
	// ([ChooseEngine]). Like the filter's options it takes effect at the
	// next start: the engine is chosen once, before the program starts.
	Engine Engine
}

// DefersWildcardBinds reports whether a bind to the wildcard address and
// port 0 is deferred: the option allows it and some connect rule binds.
func (p *Policy) DefersWildcardBinds() bool {
	if p.opts.KeepWildcardBinds {
		return false
	}
	for _, r := range p.connect {
		if r.Policy != Kernel {
			return true
		}
	}
	return false
}

// Filter returns the options that shape the filter, which a reload cannot
// change.
func (o Options) Filter() Options {
	return Options{TrapSendmsg: o.TrapSendmsg, AllowIOUring: o.AllowIOUring}
}

// AbsentSources is [Options.AbsentSources].
type AbsentSources uint8

const (
	// AbsentSkip: selectors choose among the sources present; a rule
	// with none present picks none, and its on_error decides.
	AbsentSkip AbsentSources = iota
	// AbsentUse: absent sources are chosen like the others; the bind
	// fails with EADDRNOTAVAIL and on_error decides (a rule that must
	// fail rather than move to another source).
	AbsentUse
)

// String returns the policy file spelling.
func (a AbsentSources) String() string {
	switch a {
	case AbsentSkip:
		return "skip"
	case AbsentUse:
		return "use"
	}
	return "AbsentSources(" + strconv.Itoa(int(a)) + ")"
}

// ParseAbsentSources parses the policy file spelling of an [AbsentSources].
func ParseAbsentSources(s string) (AbsentSources, error) {
	switch s {
	case "skip":
		return AbsentSkip, nil
	case "use":
		return AbsentUse, nil
	}
	return 0, fmt.Errorf("%w %q (valid: skip, use)", ErrInvalidAbsentSources, s)
}

// ErrInvalidAbsentSources is wrapped by the error of [ParseAbsentSources].
var ErrInvalidAbsentSources = errors.New("invalid absent_sources")

// Options returns the policy file's options.
func (p *Policy) Options() Options { return p.opts }

// WithOptions returns a copy of p with options o.
func (p *Policy) WithOptions(o Options) *Policy {
	c := *p
	c.opts = o
	return &c
}
