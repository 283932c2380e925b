//go:build linux

package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

// supervisorWorkers is how many threads answer notifications at once: more
// than one, so that one slow answer (a page fault in the traced process's
// memory, say) does not stall every other traced thread.
const supervisorWorkers = 2

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
	// Keep a P idle beside the workers blocked in RECV: with none idle, the
	// runtime's sysmon takes the P of a worker in a syscall after 20 µs and
	// wakes a spare thread for it, costing futex calls on every notification.
	runtime.GOMAXPROCS(supervisorWorkers + 1)
	return func(l *notify.Listener) error {
		return notify.Serve(l, h, supervisorWorkers)
	}, nil
}
