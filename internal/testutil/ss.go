package testutil

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseSSListening parses the output of `ss -ltnH` (no header) into the local
// address of each socket. It understands the forms ss prints: "1.2.3.4:80",
// "[::1]:80", "[::ffff:1.2.3.4]:80", "*:80" (taken as "[::]:80") and a
// "%dev" suffix on the address of a socket bound to a device (dropped).
func ParseSSListening(out []byte) ([]netip.AddrPort, error) {
	var aps []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		// State Recv-Q Send-Q Local Peer [Process]
		if len(fields) < 5 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 5", n, len(fields))
		}
		ap, err := parseSSAddr(fields[3])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		aps = append(aps, ap)
	}
	return aps, sc.Err()
}

func parseSSAddr(s string) (netip.AddrPort, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("local address %q: no port", s)
	}
	host, portStr := s[:i], s[i+1:]
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("local address %q: port: %w", s, err)
	}
	if j := strings.LastIndexByte(host, '%'); j >= 0 && !strings.Contains(host[j:], "]") {
		host = host[:j]
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "*" {
		host = "::"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("local address %q: %w", s, err)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
