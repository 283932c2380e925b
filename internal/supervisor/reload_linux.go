//go:build linux

package supervisor

import (
	"bytes"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/watch"
)

// parentPoll is how often a parent supervisor looks at its policy file.
// It polls rather than holding an inotify instance, whose teardown would
// add some 10 ms to vipa-exec's exit after PROGRAM's, which a shell or
// systemd waits for; a detached supervisor's exit nobody waits for.
const parentPoll = time.Second

// reloader reloads the policy file into the engine. A new version applies
// to calls after it; a version with errors is logged and the running one
// kept.
type reloader struct {
	path   string
	log    *slog.Logger
	attach func(*policy.Policy) (*policy.Policy, error) // gives a policy its state
	apply  func(*policy.Policy) error                   // the engine's Reload
	done   func(*policy.Policy)                         // after each reload applied

	mu     sync.Mutex
	loaded []byte // the file's bytes the running policy came from
}

// reload reads the file and, if it changed and is valid, applies it;
// trigger says why, in the log.
func (r *reloader) reload(trigger string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := ReadPolicyFile(r.path)
	if err != nil {
		r.log.Error("policy reload failed; keeping the running policy", "trigger", trigger, "err", err)
		return
	}
	if bytes.Equal(data, r.loaded) {
		return
	}
	pol, err := conf.Parse(r.path, data)
	if err == nil {
		pol, err = r.attach(pol)
	}
	if err == nil {
		err = r.apply(pol)
	}
	if err != nil {
		r.log.Error("policy reload failed; keeping the running policy", "trigger", trigger, "err", oneLine(err))
		return
	}
	r.loaded = data
	r.done(pol)
	r.log.Info("policy reloaded", "file", r.path, "trigger", trigger)
}

// watchSignal reloads on SIGHUP, unless parent: a parent supervisor's
// SIGHUP is PROGRAM's, forwarded. It is set up before the program runs, so
// that a SIGHUP sent at once is not lost.
func (r *reloader) watchSignal(parent bool) (stop func()) {
	if parent {
		return func() {}
	}
	return r.onSIGHUP()
}

// watchFile reloads when the file changes (an in-place write or an atomic
// rename; a parent supervisor polls). It runs once the program does, as an
// inotify instance is no part of the program's start-up, and so reloads at
// once a file changed since the launcher read it. stop ends the reloads;
// none runs after it returns.
func (r *reloader) watchFile(parent bool) (stop func()) {
	changed := func() { r.reload("file changed") }
	stop = func() {}
	if parent {
		w := watch.Poll(r.path, parentPoll, changed)
		stop = func() { _ = w.Close() }
	} else if w, err := watch.File(r.path, changed); err != nil {
		r.log.Warn("cannot watch the policy file; reload with SIGHUP", "err", err)
	} else {
		stop = func() { _ = w.Close() } // an inotify descriptor
	}
	changed()
	return stop
}

// onSIGHUP reloads whenever SIGHUP arrives. stop ignores SIGHUP again, as
// launch left it, and returns once a reload under way has ended.
func (r *reloader) onSIGHUP() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGHUP)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range ch {
			r.reload("SIGHUP")
		}
	})
	return func() {
		signal.Ignore(unix.SIGHUP) // no send on ch after it returns
		close(ch)
		wg.Wait()
	}
}
