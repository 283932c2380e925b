//go:build linux

package rewrite

import (
	"encoding/binary"
	"unsafe"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// sendto(fd, buf, len, flags, dest_addr, addrlen): a datagram to dest_addr on
// an unbound socket gets the source that connect() to dest_addr would get.
// The filter traps it only with an INET-sized addrlen.
func (h *Handler) sendto(r *notify.Request) notify.Response {
	if r.Data.Args[4] == 0 {
		return notify.Continue()
	}
	sa, ok := readSockaddr(r, r.Data.Args[4], r.Data.Args[5])
	if !ok {
		return notify.Continue()
	}
	return h.bindSource(r, sa)
}

// msghdrPrefix is the start of struct msghdr: msg_name and msg_namelen,
// all that source selection needs.
type msghdrPrefix struct {
	Name    uint64
	Namelen uint32
	_       uint32
}

// sendmsg(fd, msg, flags), trapped only with [options] trap_sendmsg: the
// destination is msg->msg_name, which the filter cannot see, so every
// sendmsg comes here and most leave at once.
func (h *Handler) sendmsg(r *notify.Request) notify.Response {
	var buf [unsafe.Sizeof(msghdrPrefix{})]byte
	if r.Data.Args[1] == 0 || r.ReadMem(r.Data.Args[1], buf[:]) != nil {
		return notify.Continue()
	}
	name := binary.NativeEndian.Uint64(buf[0:8])
	namelen := binary.NativeEndian.Uint32(buf[8:12])
	if name == 0 || (namelen != SizeofSockaddrInet4 && namelen != SizeofSockaddrInet6) {
		return notify.Continue()
	}
	sa, ok := readSockaddr(r, name, uint64(namelen))
	if !ok {
		return notify.Continue()
	}
	return h.bindSource(r, sa)
}
