//go:build linux

package rewrite

import (
	"encoding/binary"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// sendto(fd, buf, len, flags, dest_addr, addrlen): a datagram to dest_addr on
// an unbound socket gets the source that connect() to dest_addr would get.
// The filter traps it only with an INET-sized addrlen.
func (h *Handler) sendto(r *notify.Request, c notify.Call, d *decision) notify.Response {
	if c.Addr == 0 {
		d.note = "left alone: no destination"
		return notify.Continue()
	}
	return h.connect(r, c, d)
}

// sendmsg(fd, msg, flags), trapped only with [options] trap_sendmsg: the
// destination is msg->msg_name, which the filter cannot see, so every
// sendmsg comes here and most leave at once. struct msghdr starts with
// msg_name and msg_namelen: a pointer and an int, 8+4 bytes (4+4 for a
// 32-bit program's compat_msghdr).
func (h *Handler) sendmsg(r *notify.Request, c notify.Call, d *decision) notify.Response {
	var buf [12]byte
	hdr := buf[:]
	if c.Compat {
		hdr = buf[:8]
	}
	if c.Addr == 0 {
		return notify.Continue() // EFAULT, for the kernel to answer
	}
	if err := r.ReadMem(c.Addr, hdr); err != nil {
		return h.unreadable(r, c.Op, err, d)
	}
	var name uint64
	var namelen uint32
	if c.Compat {
		name, namelen = uint64(binary.NativeEndian.Uint32(hdr[0:4])), binary.NativeEndian.Uint32(hdr[4:8])
	} else {
		name, namelen = binary.NativeEndian.Uint64(hdr[0:8]), binary.NativeEndian.Uint32(hdr[8:12])
	}
	if name == 0 {
		d.note = "left alone: no destination"
		return notify.Continue()
	}
	return h.connect(r, notify.Call{Op: c.Op, Fd: c.Fd, Addr: name, AddrLen: uint64(namelen)}, d)
}
