//go:build linux && cgo

package launch

// #include <stdlib.h>
// extern int vipa_exec_prestart_fd;
// int vipa_exec_prestart_wanted(int argc, char **args);
import "C"

import (
	"os"
	"unsafe"
)

// The supervisor is pre-started by prestart_linux.c, before the Go runtime
// starts: see there. The Go side only takes its socket.

// takePrestarted returns the socket to the supervisor pre-started for this
// run, once, or nil when there is none: then startSupervisor starts one.
func takePrestarted() *os.File {
	fd := C.vipa_exec_prestart_fd
	if fd < 0 {
		return nil
	}
	C.vipa_exec_prestart_fd = -1
	return os.NewFile(uintptr(fd), "supervisor")
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
