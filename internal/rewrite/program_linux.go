//go:build linux

package rewrite

import (
	"slices"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// program is the traced program of one trapped call, as the handler sees
// it: its memory, its descriptors and whether it still waits. In production
// it is the kernel's notify.Request; unit tests set stub instead, so that
// the handler's decisions run from a synthetic call without seccomp.
//
// A concrete struct, not an interface: a buffer handed to an interface
// method escapes, and the handler's stack buffers (the address, a sendmsg's
// control data) would then cost an allocation per call. The stub gets
// copies, and its branch costs production a nil check.
type program struct {
	req  *notify.Request
	stub programStub // nil in production
}

// programStub stands in for the kernel's side of a notify.Request in unit
// tests. Its descriptors are real ones of the test process (sockets it
// made), so the socket steps of the handler stay the kernel's.
type programStub interface {
	pid() uint32
	mem(addr uint64, n int) ([]byte, error)
	setMem(addr uint64, b []byte) error
	getFD(fd int) (int, error)
	tgid() (int, error)
	valid() bool
}

// pid is the calling thread's id.
func (p program) pid() uint32 {
	if p.stub != nil {
		return p.stub.pid()
	}
	return p.req.Pid
}

// readMem is notify.Request.ReadMem.
func (p program) readMem(addr uint64, buf []byte) error {
	if p.stub != nil {
		b, err := p.stub.mem(addr, len(buf))
		copy(buf, b)
		return err
	}
	return p.req.ReadMem(addr, buf)
}

// writeMem is notify.Request.WriteMem.
func (p program) writeMem(addr uint64, b []byte) error {
	if p.stub != nil {
		return p.stub.setMem(addr, slices.Clone(b))
	}
	return p.req.WriteMem(addr, b)
}

// getFD is notify.Request.GetFD.
func (p program) getFD(fd int) (int, error) {
	if p.stub != nil {
		return p.stub.getFD(fd)
	}
	return p.req.GetFD(fd)
}

// tgid is notify.Request.Tgid.
func (p program) tgid() (int, error) {
	if p.stub != nil {
		return p.stub.tgid()
	}
	return p.req.Tgid()
}

// valid is notify.Request.Valid.
func (p program) valid() bool {
	if p.stub != nil {
		return p.stub.valid()
	}
	return p.req.Valid()
}
