//go:build linux

package rewrite

import (
	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// sendto(fd, buf, len, flags, dest_addr, addrlen): a datagram to dest_addr on
// an unbound socket gets the source that connect() to dest_addr would get.
// The filter traps it only with an addrlen of 16 to 128 bytes.
func (h *Handler) sendto(r program, c notify.Call, d *decision) notify.Response {
	if c.Addr == 0 {
		d.why = ReasonNoDestination
		return notify.Continue()
	}
	return h.connect(r, c, d)
}

// maxControl bounds the control data read from a sendmsg: enough for every
// message a program sends with a datagram. A PKTINFO message further in is
// not seen, and the socket gets the policy's source; the datagram still
// leaves from the PKTINFO source, which the kernel prefers to the bound one.
const maxControl = 4096

// sendmsg(fd, msg, flags), trapped only with [options] trap_sendmsg: the
// destination is msg->msg_name, which the filter cannot see, so every
// sendmsg comes here and most leave at once. A datagram whose IP_PKTINFO or
// IPV6_PKTINFO names a source is left alone: the program chose its source.
func (h *Handler) sendmsg(r program, c notify.Call, d *decision) notify.Response {
	var buf [sizeofMsghdr]byte
	hdr := buf[:]
	if c.Compat {
		hdr = buf[:sizeofCompatMsghdr]
	}
	if c.Addr == 0 {
		return notify.Continue() // EFAULT, for the kernel to answer
	}
	if err := r.readMem(c.Addr, hdr); err != nil {
		return h.unreadable(r, c.Op, err, d)
	}
	m := decodeMsghdr(hdr, c.Compat)
	if m.name == 0 {
		d.why = ReasonNoDestination
		return notify.Continue()
	}
	if m.control != 0 && m.controllen > 0 {
		var ctl [maxControl]byte
		b := ctl[:min(m.controllen, maxControl)]
		if r.readMem(m.control, b) == nil && pktinfoSource(b, c.Compat) {
			d.why = ReasonPktinfo
			return notify.Continue()
		}
	}
	return h.connect(r, notify.Call{Op: c.Op, Fd: c.Fd, Addr: m.name, AddrLen: m.namelen}, d)
}

// sendmmsg(fd, msgvec, vlen, flags), trapped with sendmsg: the socket gets
// the source for the first message's destination, as if that message were
// sent by sendmsg (struct mmsghdr starts with its struct msghdr).
func (h *Handler) sendmmsg(r program, c notify.Call, d *decision) notify.Response {
	if uint32(c.AddrLen) == 0 {
		d.why = ReasonNoMessage
		return notify.Continue()
	}
	return h.sendmsg(r, c, d)
}
