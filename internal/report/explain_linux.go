//go:build linux

package report

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/hostaddr"
	"github.com/vipa-exec/vipa-exec/internal/hostroute"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rrstate"
	"github.com/vipa-exec/vipa-exec/internal/supervisor"
)

// explainPolicy gives p the state a supervisor of the file at path would
// give it (rr's shared counters, lc's socket counts), so that --explain
// peeks at what a real call would get, and notes in the explainNote what
// each peek read. done releases the state.
func explainPolicy(path string, p *policy.Policy, stderr io.Writer) (_ *policy.Policy, _ *explainNote, done func(), _ error) {
	state := supervisor.NewState(path, slog.New(warnHandler{stderr}))
	note := &explainNote{}
	env := state.Env()
	counter, sockets := env.Counter, env.Sockets
	env.Counter = func(key string, mode fs.FileMode) (policy.Counter, error) {
		before := rrFiles()
		c, err := counter(key, mode)
		if err != nil {
			return nil, err
		}
		fresh := false
		for name := range rrFiles() {
			fresh = fresh || !before[name]
		}
		_, shared := c.(*rrstate.Counter)
		return &notingCounter{Counter: c, fresh: fresh, shared: shared, note: note}, nil
	}
	env.Sockets = func(addrs []netip.Addr) (policy.SocketCounter, error) {
		v, err := sockets(addrs)
		if err != nil {
			return nil, err
		}
		return &notingView{SocketCounter: v, note: note}, nil
	}
	// One look at the host's addresses, as a supervisor starting now
	// would see them; without it every source counts as present.
	if local, err := hostaddr.Dump(); err == nil {
		set := hostaddr.Usable(local)
		env.Present = func() *policy.AddrSet { return set }
	}
	// The kernel's route at each call, as a supervisor's first call would
	// ask it.
	env.Route = func(dst netip.Addr) (string, bool) {
		name, ok, err := hostroute.Lookup(dst)
		return name, ok && err == nil
	}
	pol, err := p.WithEnv(env)
	if err != nil {
		state.Close()
		return nil, nil, nil, err
	}
	return pol, note, state.Close, nil
}

// rrFiles are the rr counters that exist now.
func rrFiles() map[string]bool {
	entries, _ := os.ReadDir(rrstate.DirFor(os.Geteuid()))
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out
}

type notingCounter struct {
	policy.Counter
	fresh, shared bool
	note          *explainNote
}

func (c *notingCounter) Load() uint64 {
	c.note.rrFresh, c.note.rrUnshared = c.fresh, !c.shared
	return c.Counter.Load()
}

type notingView struct {
	policy.SocketCounter
	note *explainNote
}

func (v *notingView) Count(a netip.Addr) int {
	v.note.view = v.SocketCounter
	return v.SocketCounter.Count(a)
}

// warnHandler prints the supervisor's warnings about its state as vipa-exec
// prints warnings: "vipa-exec: warning: MSG (KEY=VALUE ...)".
type warnHandler struct{ w io.Writer }

func (h warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("vipa-exec: warning: " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" (" + a.Key + ": " + a.Value.String() + ")")
		return true
	})
	b.WriteByte('\n')
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h warnHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnHandler) WithGroup(string) slog.Handler      { return h }
