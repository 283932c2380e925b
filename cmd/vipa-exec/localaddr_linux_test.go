//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// nlAttr encodes one rtattr.
func nlAttr(typ uint16, data []byte) []byte {
	b := make([]byte, nlAlign(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b[0:], uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], data)
	return b
}

// nlMsg encodes one netlink message, padded to 4 bytes.
func nlMsg(typ uint16, seq uint32, body ...[]byte) []byte {
	var payload []byte
	for _, p := range body {
		payload = append(payload, p...)
	}
	l := unix.SizeofNlMsghdr + len(payload)
	b := make([]byte, nlAlign(l))
	binary.NativeEndian.PutUint32(b[0:], uint32(l))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_MULTI)
	binary.NativeEndian.PutUint32(b[8:], seq)
	copy(b[unix.SizeofNlMsghdr:], payload)
	return b
}

// ifaddrmsg encodes struct ifaddrmsg.
func ifaddrmsg(family, flags uint8, index uint32) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0], b[1], b[2] = family, 32, flags
	binary.NativeEndian.PutUint32(b[4:], index)
	return b
}

func u32(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

// errnoBytes is the negative errno of NLMSG_ERROR and NLMSG_DONE.
func errnoBytes(e unix.Errno) []byte {
	n := -int32(e)
	return u32(uint32(n))
}

func ip(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

var parseAddrTests = []struct {
	name string
	in   []byte
	want []ifAddr
	done bool
	err  error // wrapped, or nil
}{
	{
		name: "IPv4 with IFA_LOCAL and a peer, IPv6, done",
		in: cat(
			nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_INET, 0, 1), nlAttr(unix.IFA_ADDRESS, ip("10.0.0.2")), nlAttr(unix.IFA_LOCAL, ip("10.0.0.1")), nlAttr(unix.IFA_LABEL, []byte("lo\x00"))),
			nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_INET6, 0, 2), nlAttr(unix.IFA_ADDRESS, ip("2001:db8::1")), nlAttr(unix.IFA_FLAGS, u32(unix.IFA_F_TENTATIVE|0x100))),
			nlMsg(unix.NLMSG_DONE, 1, u32(0)),
		),
		want: []ifAddr{
			{Addr: netip.MustParseAddr("10.0.0.1"), Index: 1},
			{Addr: netip.MustParseAddr("2001:db8::1"), Index: 2, Flags: unix.IFA_F_TENTATIVE | 0x100},
		},
		done: true,
	},
	{
		name: "8-bit flags without IFA_FLAGS",
		in:   nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_INET6, unix.IFA_F_DADFAILED, 3), nlAttr(unix.IFA_ADDRESS, ip("2001:db8::2"))),
		want: []ifAddr{{Addr: netip.MustParseAddr("2001:db8::2"), Index: 3, Flags: unix.IFA_F_DADFAILED}},
	},
	{
		name: "other families, other messages and other sequences are skipped",
		in: cat(
			nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_PACKET, 0, 1), nlAttr(unix.IFA_ADDRESS, []byte{1, 2, 3, 4, 5, 6})),
			nlMsg(unix.RTM_NEWLINK, 1, make([]byte, 16)),
			nlMsg(unix.RTM_NEWADDR, 2, ifaddrmsg(unix.AF_INET, 0, 1), nlAttr(unix.IFA_LOCAL, ip("10.9.9.9"))),
			nlMsg(unix.NLMSG_DONE, 2),
			nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_INET, 0, 1)),
		),
	},
	{
		name: "empty datagram",
	},
	{
		name: "NLMSG_ERROR",
		in:   nlMsg(unix.NLMSG_ERROR, 1, errnoBytes(unix.EPERM), make([]byte, 16)),
		err:  unix.EPERM,
	},
	{
		name: "NLMSG_ERROR 0 is an acknowledgement",
		in:   cat(nlMsg(unix.NLMSG_ERROR, 1, u32(0), make([]byte, 16)), nlMsg(unix.NLMSG_DONE, 1)),
		done: true,
	},
	{
		name: "dump interrupted",
		in:   nlMsg(unix.NLMSG_DONE, 1, errnoBytes(unix.EINTR)),
		err:  unix.EINTR,
	},
	{
		name: "short header",
		in:   make([]byte, 10),
		err:  errNetlink,
	},
	{
		name: "length beyond the datagram",
		in:   nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_INET, 0, 1))[:20],
		err:  errNetlink,
	},
	{
		name: "length below the header",
		in:   func() []byte { b := nlMsg(unix.NLMSG_DONE, 1); binary.NativeEndian.PutUint32(b, 8); return b }(),
		err:  errNetlink,
	},
	{
		name: "short ifaddrmsg",
		in:   nlMsg(unix.RTM_NEWADDR, 1, []byte{unix.AF_INET, 32}),
		err:  errNetlink,
	},
	{
		name: "attribute beyond the message",
		in:   nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_INET, 0, 1), nlAttr(unix.IFA_LOCAL, ip("10.0.0.1"))[:6]),
		err:  errNetlink,
	},
	{
		name: "IPv6 address in an IPv4 message",
		in:   nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_INET, 0, 1), nlAttr(unix.IFA_LOCAL, ip("2001:db8::1"))),
		err:  errNetlink,
	},
	{
		name: "short IFA_FLAGS",
		in:   nlMsg(unix.RTM_NEWADDR, 1, ifaddrmsg(unix.AF_INET6, 0, 1), nlAttr(unix.IFA_FLAGS, []byte{1})),
		err:  errNetlink,
	},
}

func TestParseAddrMessages(t *testing.T) {
	for _, tt := range parseAddrTests {
		t.Run(tt.name, func(t *testing.T) {
			got, done, err := parseAddrMessages(tt.in, 1)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("parseAddrMessages() error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if done != tt.done {
				t.Errorf("done = %v, want %v", done, tt.done)
			}
			if d := testutil.Diff(tt.want, got); d != "" {
				t.Errorf("addresses (-want +got):\n%s", d)
			}
		})
	}
}

func FuzzParseAddrMessages(f *testing.F) {
	for _, tt := range parseAddrTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		addrs, done, err := parseAddrMessages(b, 1)
		if err != nil {
			if addrs != nil || done {
				t.Fatalf("error %v with addresses %v, done %v", err, addrs, done)
			}
			return
		}
		for _, a := range addrs {
			if !a.Addr.IsValid() || a.Addr.Zone() != "" {
				t.Fatalf("address %v", a.Addr)
			}
		}
	})
}

// TestHostAddrs reads the addresses of a fresh network namespace.
func TestHostAddrs(t *testing.T) {
	ns := testutil.NewNetNS(t)
	ns.AddAddr(t, "192.0.2.10/32")
	ns.AddAddr(t, "2001:db8:2::10/128")
	var got []hostAddr
	ns.Do(t, func() error {
		var err error
		got, err = hostAddrs()
		return err
	})
	slices.SortFunc(got, func(a, b hostAddr) int { return a.Addr.Compare(b.Addr) })
	want := []hostAddr{
		{Addr: netip.MustParseAddr("127.0.0.1"), Iface: "lo"},
		{Addr: netip.MustParseAddr("192.0.2.10"), Iface: "lo"},
		{Addr: netip.MustParseAddr("::1"), Iface: "lo"},
		{Addr: netip.MustParseAddr("2001:db8:2::10"), Iface: "lo"},
	}
	if d := testutil.Diff(want, got); d != "" {
		t.Errorf("hostAddrs() (-want +got):\n%s", d)
	}
}
