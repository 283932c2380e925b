//go:build linux

package supervisor

import (
	"log/slog"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/hostaddr"
	"github.com/vipa-exec/vipa-exec/internal/hostroute"
	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// watchAddrs follows the addresses of the supervisor's network namespace
// (the one vipa-exec started in) for the policies' Env.Present, and logs
// what their changes mean to the policy current returns (nil until there is
// one); changed, if not nil, is handed each new set. Without a watcher it
// warns and returns nil: every source then counts as present, as before
// vipa-exec followed them.
func watchAddrs(log *slog.Logger, current func() *policy.Policy, changed func(*policy.AddrSet)) (present func() *policy.AddrSet, stop func()) {
	w, err := hostaddr.Watch(func(old, new *policy.AddrSet) {
		// changed first: once the line is logged, the engine has the set.
		if changed != nil {
			changed(new)
		}
		if p := current(); p != nil {
			LogPresence(log, p, old, new)
		}
	}, func(err error) {
		log.Warn("following the host's addresses", "err", err)
	})
	if err != nil {
		log.Warn("cannot follow the host's addresses; rules use every source, present or not", "err", err)
		return nil, func() {}
	}
	return w.Set, w.Close
}

// newRoutes is the routes of the supervisor's network namespace for the
// policies' Env.Route, kept whatever the policy, since a reload may add
// [[interface]] rules; only those ask it anything. It asks the kernel on
// every call until its Follow has subscribed to the routing changes.
func newRoutes(log *slog.Logger) *hostroute.Table {
	return hostroute.New(func(what []string) {
		log.Debug("routing changed: outgoing interfaces are asked again", "changes", strings.Join(what, ", "))
	}, func(err error) {
		log.Warn("following the host's routes", "err", oneLine(err))
	})
}

// attachLogged is attach for reloads: a reloaded policy whose sources are
// not all present is logged as vipa-exec warns at start.
func attachLogged(attach func(*policy.Policy) (*policy.Policy, error), present func() *policy.AddrSet, log *slog.Logger) func(*policy.Policy) (*policy.Policy, error) {
	return func(p *policy.Policy) (*policy.Policy, error) {
		q, err := attach(p)
		if err == nil && present != nil {
			LogPresence(log, q, nil, present())
		}
		return q, err
	}
}
