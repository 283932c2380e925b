//go:build linux && cgo

package launch

// #include <stdlib.h>
// #include <sys/types.h>
// extern int vipa_exec_prestart_fd;
// extern pid_t vipa_exec_prestart_middle;
// int vipa_exec_prestart_wanted(int argc, char **args);
import "C"

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The supervisor is pre-started by prestart_linux.c, before the Go runtime
// starts: see there. The Go side only takes its socket.

// takePrestarted returns the socket to the supervisor pre-started for this
// run, once, or nil when there is none: then startSupervisor starts one.
// It reaps the process that forked the supervisor, long gone by now, so
// that PROGRAM does not inherit a zombie child; when that one could not
// fork, there is no supervisor.
func takePrestarted() *os.File {
	fd, middle := C.vipa_exec_prestart_fd, int(C.vipa_exec_prestart_middle)
	if fd < 0 {
		return nil
	}
	C.vipa_exec_prestart_fd, C.vipa_exec_prestart_middle = -1, -1
	f := os.NewFile(uintptr(fd), "supervisor")
	var ws unix.WaitStatus
	_, err := unix.Wait4(middle, &ws, 0, nil)
	for errors.Is(err, unix.EINTR) {
		_, err = unix.Wait4(middle, &ws, 0, nil)
	}
	// ECHILD: SIGCHLD is ignored, the kernel reaped it; a supervisor that
	// did not start then says so on the socket, or it reads EOF.
	if err == nil && (!ws.Exited() || ws.ExitStatus() != 0) {
		_ = f.Close()
		return nil
	}
	return f
}

// dropPrestarted closes the socket to a pre-started supervisor that this
// run does not use (--supervise=auto chose parent): it reads EOF and exits.
func dropPrestarted() {
	if f := takePrestarted(); f != nil {
		_ = f.Close()
	}
}

// prestartWanted is the constructor's choice for the command line args
// (without argv[0]), for tests.
func prestartWanted(args []string) bool {
	cargs := make([]*C.char, len(args)+1)
	for i, a := range args {
		cargs[i] = C.CString(a)
		defer C.free(unsafe.Pointer(cargs[i]))
	}
	return C.vipa_exec_prestart_wanted(C.int(len(args)), &cargs[0]) != 0
}
