package supervisor

import (
	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/trusted"
)

// FilterOptions is what the seccomp engine's filter traps for pol, as the
// launcher loads it: its [options], and bind and sendto only as far as its
// rules need them (policy.Traps). The engine compares a reloaded policy with
// the one the filter was built from, to tell which rules it cannot serve.
func FilterOptions(pol *policy.Policy) notify.FilterOptions {
	opts, traps := pol.Options(), pol.Traps()
	f := notify.FilterOptions{TrapSendmsg: opts.TrapSendmsg, AllowIOUring: opts.AllowIOUring, SkipBind: !traps.Bind}
	switch {
	case traps.SendtoUDP:
		f.Sendto = notify.SendtoAll
	case traps.SendtoTCP:
		f.Sendto = notify.SendtoFastOpen
	default:
		f.Sendto = notify.SendtoNone
	}
	return f
}

// ReadPolicyFile reads a policy file, at start, on every reload and for the
// maintenance verbs, as package trusted allows: a regular file of at most
// conf.MaxSize bytes that, when vipa-exec runs as root, nobody but root and
// the caller can change.
func ReadPolicyFile(path string) ([]byte, error) {
	return trusted.ReadFile(path, "policy file", conf.MaxSize)
}
