package policy

// Options are a policy file's [options]: what the filter traps. The filter
// is loaded once, before the program starts, so they take effect at the
// next start, not on reload.
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
}

// Options returns the policy file's options.
func (p *Policy) Options() Options { return p.opts }

// WithOptions returns a copy of p with options o.
func (p *Policy) WithOptions(o Options) *Policy {
	c := *p
	c.opts = o
	return &c
}
