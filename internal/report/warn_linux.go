//go:build linux

package report

import (
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/vipa-exec/vipa-exec/internal/hostaddr"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/supervisor"
)

// WarnAbsent warns, before the program starts, once per source of p that
// is not a usable address of this host (the network namespace vipa-exec
// runs in, which the supervisor follows) and once per rule that has none,
// as the supervisor logs it.
func WarnAbsent(w io.Writer, p *policy.Policy) {
	local, err := hostaddr.DumpUsable()
	if err != nil {
		fmt.Fprintf(w, "vipa-exec: warning: cannot read this host's addresses: %v\n", err)
		return
	}
	supervisor.LogPresence(slog.New(warnHandler{w}), p, nil, local)
	warnNoInterface(w, p)
}

// warnNoInterface warns once per [[interface]] rule whose interface this
// host (network namespace) does not have: interfaces come and go, so the
// rule applies once it is there.
func warnNoInterface(w io.Writer, p *policy.Policy) {
	for _, r := range p.ConnectRules() {
		if r.Interface == "" {
			continue
		}
		if _, err := net.InterfaceByName(r.Interface); err != nil {
			fmt.Fprintf(w, "vipa-exec: warning: %s: no interface %q on this host (yet); the rule applies once there is\n", r.Origin, r.Interface)
		}
	}
}
