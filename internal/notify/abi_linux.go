//go:build linux

package notify

import (
	"encoding/binary"
	"fmt"
)

// Op is what a trapped call asks for, whatever the ABI it came through.
type Op uint8

const (
	OpNone     Op = iota // not a call the supervisor handles
	OpConnect            // connect(fd, addr, addrlen)
	OpBind               // bind(fd, addr, addrlen)
	OpSendto             // sendto(fd, buf, len, flags, addr, addrlen)
	OpSendmsg            // sendmsg(fd, msg, flags)
	OpSendmmsg           // sendmmsg(fd, msgvec, vlen, flags)
	NumOps               // the number of Op values, for tables indexed by Op
)

// opNames are the stable names of the calls: the keys of the counters in
// --status --json and in the SIGUSR1 log line.
var opNames = [NumOps]string{OpNone: "none", OpConnect: "connect", OpBind: "bind",
	OpSendto: "sendto", OpSendmsg: "sendmsg", OpSendmmsg: "sendmmsg"}

// String is the call's stable name, such as "connect".
func (o Op) String() string {
	if o >= NumOps {
		return fmt.Sprintf("op%d", uint8(o))
	}
	return opNames[o]
}

// Call is a trapped call's arguments, decoded from its ABI.
type Call struct {
	Op      Op
	Fd      int
	Addr    uint64 // the socket address; for OpSendmsg the struct msghdr, for OpSendmmsg the first struct mmsghdr
	AddrLen uint64 // for OpSendmmsg, vlen
	// Compat: the caller is a 32-bit program (i386 or x32): its struct
	// msghdr has 32-bit fields. Socket addresses are the same in every ABI.
	Compat bool
}

// ABI is one system call ABI the filter covers. The filter's compiler
// (internal/launch, with libseccomp) reads these tables as the decoder here
// does, so that what is trapped and what is decoded cannot drift apart.
type ABI struct {
	// Arch is libseccomp's name of the architecture ("amd64", "x86",
	// "x32", "arm64", "arm"), or "" for the native one.
	Arch      string
	AuditArch uint32
	Compat    bool
	Calls     map[int32]Op
	// Socketcall is the multiplexer's number (i386), or -1. Its arguments
	// are in the caller's memory, out of the filter's sight, so the filter
	// traps socketcall(SYS_CONNECT, ...) whatever the address length.
	Socketcall int32
	Sendmsg    int32 // trapped only with FilterOptions.TrapSendmsg
	Sendmmsg   int32 // likewise
}

// socketcall(2) call numbers (include/uapi/linux/net.h).
const (
	sysBind     = 2
	sysConnect  = 3
	sysSendto   = 11
	sysSendmsg  = 16
	sysSendmmsg = 20
)

// SocketcallOps are the socketcall(2) calls the supervisor handles.
var SocketcallOps = map[uint64]Op{sysBind: OpBind, sysConnect: OpConnect, sysSendto: OpSendto, sysSendmsg: OpSendmsg, sysSendmmsg: OpSendmmsg}

// findABI returns the ABI among abis of a notification.
func findABI(abis []ABI, auditArch uint32, nr int32) *ABI {
	for i := range abis {
		a := &abis[i]
		if a.AuditArch != auditArch {
			continue
		}
		if _, ok := a.Calls[nr]; ok || nr == a.Socketcall || nr == a.Sendmsg || nr == a.Sendmmsg {
			return a
		}
	}
	return nil
}

// Call decodes the trapped call's arguments. An unknown call decodes to
// OpNone; a socketcall whose arguments cannot be read is an error.
func (r *Request) Call() (Call, error) { return decodeCall(ABIs, &r.Data, r.ReadMem) }

// decodeCall decodes the call data made through one of abis; readMem reads
// the caller's memory.
func decodeCall(abis []ABI, d *SeccompData, readMem func(addr uint64, buf []byte) error) (Call, error) {
	a := findABI(abis, d.Arch, d.Nr)
	if a == nil {
		return Call{}, nil
	}
	args := d.Args
	op := a.Calls[d.Nr]
	switch d.Nr {
	case a.Sendmsg:
		op = OpSendmsg
	case a.Sendmmsg:
		op = OpSendmmsg
	}
	if d.Nr == a.Socketcall {
		op = SocketcallOps[args[0]]
		if op == OpNone {
			return Call{}, nil
		}
		// socketcall(call, unsigned long args[]): a 32-bit caller's
		// arguments are six 32-bit words in its memory.
		var buf [6 * 4]byte
		if err := readMem(uint64(uint32(args[1])), buf[:]); err != nil {
			return Call{}, fmt.Errorf("read socketcall arguments: %w", err)
		}
		for i := range 6 {
			args[i] = uint64(binary.LittleEndian.Uint32(buf[4*i:]))
		}
	}
	c := Call{Op: op, Fd: int(int32(args[0])), Compat: a.Compat}
	switch op {
	case OpConnect, OpBind:
		c.Addr, c.AddrLen = args[1], args[2]
	case OpSendto:
		c.Addr, c.AddrLen = args[4], args[5]
	case OpSendmsg:
		c.Addr = args[1]
	case OpSendmmsg:
		c.Addr, c.AddrLen = args[1], args[2]
	}
	if a.Compat {
		c.Addr, c.AddrLen = uint64(uint32(c.Addr)), uint64(uint32(c.AddrLen))
	}
	return c, nil
}
