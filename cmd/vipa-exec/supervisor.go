//go:build linux

package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

// supervisorWorkers is how many threads answer notifications at once: more
// than one, so that one slow answer (a page fault in the traced process's
// memory, say) does not stall every other traced thread.
const supervisorWorkers = 1

// prepareSupervisor is the supervisor's side of launch.RunStage.
func prepareSupervisor(path string, data []byte) (func(*notify.Listener) error, error) {
	pol, err := conf.Parse(path, data)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("supervisor", os.Getpid())
	notify.SetPanicReporter(func(p any) {
		log.Error("bug: handler panicked; the call went on unchanged", "panic", fmt.Sprint(p))
	})
	h := rewrite.NewHandler(pol, log)
	return func(l *notify.Listener) error {
		return notify.Serve(l, h, supervisorWorkers)
	}, nil
}
