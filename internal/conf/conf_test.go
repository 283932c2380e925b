package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"

	"github.com/BurntSushi/toml"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/policy/policytest"
)

// diff is the (-want +got) diff that every test of this project uses.
var diff = testutil.Diff

// lines joins its arguments into a file, so that the line number of each is
// its position in the argument list.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

// rules renders a policy's rules one per line, for diffs.
func rules(p *policy.Policy) []string {
	var out []string
	for _, r := range p.ConnectRules() {
		out = append(out, fmt.Sprintf("connect %s %v %s %s %s", r.Destination, r.Sources, r.Policy, r.OnError, r.Origin))
	}
	for _, r := range p.BindRules() {
		out = append(out, fmt.Sprintf("bind %s %v %s %s %s", r.Ports, r.Sources, r.Policy, r.OnError, r.Origin))
	}
	return out
}

// A rule that is valid, to pad files so the error is not in the first table.
var okConnect = []string{`[[connect]]`, `destination = "10.0.0.0/8"`, `sources = ["192.0.2.1"]`}

func pad(ls ...string) string { return lines(append(append([]string{}, okConnect...), ls...)...) }

// parseErrorTests are the invalid files, with where and how each is
// reported. They seed FuzzPolicyFile too.
var parseErrorTests = []struct {
	name string
	in   string
	line int
	key  string
	err  error  // wrapped by the error
	msg  string // the whole line, as the launcher prints it
}{
	// 1. TOML syntax.
	{
		name: "unterminated string",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/8`),
		line: 5, err: ErrSyntax,
		msg: `policy.toml:5: invalid TOML: strings cannot contain newlines`,
	},
	{
		name: "unterminated header",
		in:   pad(`[[bind]`, `ports = "80"`),
		line: 4, err: ErrSyntax,
		msg: `policy.toml:4: invalid TOML: expected end of table array name delimiter ']', but got '\n' instead`,
	},
	{
		name: "junk after value",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9" junk`),
		line: 5, err: ErrSyntax,
		msg: `policy.toml:5: invalid TOML: expected a top-level item to end with a newline, comment, or EOF, but got 'j' instead`,
	},
	{
		name: "unterminated array",
		in:   lines(`[[connect]]`, `destination = "10.0.0.0/8"`, `sources = [`, `  "192.0.2.1",`),
		line: 4, err: ErrSyntax,
		msg: `policy.toml:4: invalid TOML: unexpected EOF; expected value`,
	},
	{
		name: "not UTF-8",
		in:   "# \xff\n",
		line: 1, err: ErrSyntax,
		msg: `policy.toml:1: invalid TOML: invalid UTF-8 byte: 0xff`,
	},
	// 15. Duplicate key.
	{
		name: "duplicate key",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `destination = "10.0.0.0/10"`),
		line: 7, err: ErrSyntax,
		msg: `policy.toml:7: invalid TOML: key 'connect.destination' has already been defined`,
	},
	{
		name: "table then array of tables",
		in:   lines(`[connect]`, `destination = "10.0.0.0/8"`, `[[connect]]`),
		line: 3, err: ErrSyntax,
		msg: `policy.toml:3: invalid TOML: key 'connect' was already created and cannot be used as an array`,
	},
	// 2. Unknown top-level key or table.
	{
		name: "misspelt table",
		in:   pad(`[[conect]]`, `destination = "10.0.0.0/9"`),
		line: 4, key: "conect", err: ErrUnknownKey,
		msg: `policy.toml:4: conect: unknown table; did you mean [[connect]]?`,
	},
	{
		name: "unknown table",
		in:   pad(`[settings]`, `debug = true`),
		line: 4, key: "settings", err: ErrUnknownKey,
		msg: `policy.toml:4: settings: unknown table; a policy file has only [[connect]], [[interface]] and [[bind]] tables and [options]`,
	},
	{
		name: "unknown top-level key",
		in:   lines(`version = 1`, ``, okConnect[0], okConnect[1], okConnect[2]),
		line: 1, key: "version", err: ErrUnknownKey,
		msg: `policy.toml:1: version: unknown key; a policy file has only [[connect]], [[interface]] and [[bind]] tables and [options]`,
	},
	{
		name: "quoted unknown table",
		in:   pad(`[["bind rule"]]`),
		line: 4, key: `"bind rule"`, err: ErrUnknownKey,
		msg: `policy.toml:4: "bind rule": unknown table; a policy file has only [[connect]], [[interface]] and [[bind]] tables and [options]`,
	},
	{
		name: "plain table instead of array",
		in:   lines(`[bind]`, `ports = "80"`, `sources = ["192.0.2.1"]`),
		line: 1, key: "bind", err: ErrType,
		msg: `policy.toml:1: bind: write [[bind]] (one per rule), not [bind]`,
	},
	{
		name: "rules not tables",
		in:   lines(`connect = "10.0.0.0/8"`),
		line: 1, key: "connect", err: ErrType,
		msg: `policy.toml:1: connect: want [[connect]] tables, got a string`,
	},
	{
		name: "inline array element not a table",
		in:   lines(`connect = [`, `  {destination = "10.0.0.0/8", sources = ["192.0.2.1"]},`, `  "10.1.0.0/16",`, `]`),
		line: 3, key: "connect", err: ErrType,
		msg: `policy.toml:3: connect: want tables like [[connect]], got a string`,
	},
	// 3. Unknown key in a rule; the third table, where the TOML
	// library's own positions are those of the last table.
	{
		name: "misspelt key",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `souces = ["192.0.2.1"]`, `[[connect]]`, `destination = "10.0.0.0/10"`, `sources = ["192.0.2.1"]`, `souces = ["192.0.2.1"]`),
		line: 6, key: "connect.souces", err: ErrUnknownKey,
		msg: `policy.toml:6: connect.souces: unknown key; did you mean "sources"?`,
	},
	{
		name: "key of the other rule kind",
		in:   pad(`[[bind]]`, `ports = "80"`, `destination = "10.0.0.0/8"`, `sources = ["192.0.2.1"]`),
		line: 6, key: "bind.destination", err: ErrUnknownKey,
		msg: `policy.toml:6: bind.destination: unknown key in [[bind]] (valid: ports, sources, policy, rr_mode, on_error)`,
	},
	{
		name: "sub-table of a rule",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `[connect.options]`, `x = 1`),
		line: 7, key: "connect.options", err: ErrUnknownKey,
		msg: `policy.toml:7: connect.options: unknown key in [[connect]] (valid: destination, ports, protocol, sources, policy, rr_mode, on_error)`,
	},
	{
		name: "dotted key in a rule",
		in:   pad(`[[bind]]`, `ports = "80"`, `sources = ["192.0.2.1"]`, `policy.name = "random"`),
		line: 7, key: "bind.policy", err: ErrType,
		msg: `policy.toml:7: bind.policy: want a string, one of onevipa, random, lrr, rr, lc, kernel; got a table`,
	},
	{
		name: "misspelt key in inline table",
		in:   lines(`connect = [`, `  {destination = "10.0.0.0/8", sources = ["192.0.2.1"]},`, `  {destination = "10.0.0.0/9",`, `   source = ["192.0.2.1"]},`, `]`),
		line: 4, key: "connect.source", err: ErrUnknownKey,
		msg: `policy.toml:4: connect.source: unknown key; did you mean "sources"?`,
	},
	// 4. Wrong types.
	{
		name: "sources not a list",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = "192.0.2.1"`),
		line: 6, key: "connect.sources", err: ErrType,
		msg: `policy.toml:6: connect.sources: want a list of addresses like ["192.0.2.10"], got a string`,
	},
	{
		name: "source not a string",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = [`, `  "192.0.2.1",`, `  3221225985,`, `]`),
		line: 8, key: "connect.sources", err: ErrType,
		msg: `policy.toml:8: connect.sources: want addresses as strings like "192.0.2.10", got an integer`,
	},
	{
		name: "destination a list",
		in:   pad(`[[connect]]`, `destination = ["10.0.0.0/9", "10.128.0.0/9"]`, `sources = ["192.0.2.1"]`),
		line: 5, key: "connect.destination", err: ErrType,
		msg: `policy.toml:5: connect.destination: want a string like "10.0.0.0/8", got an array`,
	},
	{
		name: "ports a float",
		in:   lines(`[[bind]]`, `ports = 80.0`, `sources = ["192.0.2.1"]`),
		line: 2, key: "bind.ports", err: ErrType,
		msg: `policy.toml:2: bind.ports: want a port like 80 or a range like "6000-6999", got a float`,
	},
	{
		name: "policy not a string",
		in:   lines(`[[bind]]`, `ports = 80`, `sources = ["192.0.2.1"]`, `policy = 1`),
		line: 4, key: "bind.policy", err: ErrType,
		msg: `policy.toml:4: bind.policy: want a string, one of onevipa, random, lrr, rr, lc, kernel; got an integer`,
	},
	{
		name: "on_error a boolean",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `on_error = true`),
		line: 7, key: "connect.on_error", err: ErrType,
		msg: `policy.toml:7: connect.on_error: want "continue" or "fail", got a boolean`,
	},
	// 5. Destinations.
	{
		name: "host bits",
		in:   pad(`[[connect]]`, `destination = "10.1.2.3/8"`, `sources = ["192.0.2.1"]`),
		line: 5, key: "connect.destination", err: policy.ErrInvalidDestination,
		msg: `policy.toml:5: connect.destination: invalid destination: 10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?`,
	},
	{
		name: "IPv6 host bits",
		in:   lines(`[[connect]]`, `destination = "2001:db8::1/32"`, `sources = ["2001:db8::1"]`),
		line: 2, key: "connect.destination", err: policy.ErrInvalidDestination,
		msg: `policy.toml:2: connect.destination: invalid destination: 2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?`,
	},
	{
		name: "prefix too long",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/33"`, `sources = ["192.0.2.1"]`),
		line: 5, key: "connect.destination", err: policy.ErrInvalidDestination,
		msg: `policy.toml:5: connect.destination: "10.0.0.0/33" is not an address or CIDR prefix like "10.0.0.0/8" or "2001:db8::/32"`,
	},
	{
		name: "host name",
		in:   pad(`[[connect]]`, `destination = "example.com"`, `sources = ["192.0.2.1"]`),
		line: 5, key: "connect.destination", err: policy.ErrInvalidDestination,
		msg: `policy.toml:5: connect.destination: "example.com" is not an address or CIDR prefix like "10.0.0.0/8" or "2001:db8::/32"`,
	},
	{
		name: "IPv4-mapped destination",
		in:   lines(`[[connect]]`, `destination = "::ffff:10.0.0.0/104"`, `sources = ["2001:db8::1"]`),
		line: 2, key: "connect.destination", err: policy.ErrInvalidDestination,
		msg: `policy.toml:2: connect.destination: invalid destination: ::ffff:10.0.0.0/104 is IPv4-mapped; write 10.0.0.0/8 (IPv4 rules also match IPv4-mapped destinations)`,
	},
	{
		name: "zoned destination",
		in:   lines(`[[connect]]`, `destination = "fe80::1%eth0"`, `sources = ["2001:db8::1"]`),
		line: 2, key: "connect.destination", err: policy.ErrInvalidDestination,
		msg: `policy.toml:2: connect.destination: "fe80::1%eth0" has a zone; destinations are addresses or prefixes without %zone`,
	},
	{
		name: "duplicate destination",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `[[connect]]`, `sources = ["192.0.2.2"]`, `destination = "10.0.0.0/8"`),
		line: 9, key: "connect.destination", err: policy.ErrDuplicateDestination,
		msg: `policy.toml:9: connect.destination: duplicate destination 10.0.0.0/8: the rule at policy.toml:1 has the same one, so this rule would never match`,
	},
	{
		name: "bare address is a host route, duplicate of /32",
		in:   lines(`[[connect]]`, `destination = "192.0.2.7"`, `sources = ["192.0.2.1"]`, `[[connect]]`, `destination = "192.0.2.7/32"`, `sources = ["192.0.2.1"]`),
		line: 5, key: "connect.destination", err: policy.ErrDuplicateDestination,
		msg: `policy.toml:5: connect.destination: duplicate destination 192.0.2.7/32: the rule at policy.toml:1 has the same one, so this rule would never match`,
	},
	// 6. Missing keys: at the table's header.
	{
		name: "missing destination",
		in:   pad(``, `[[connect]]`, `sources = ["192.0.2.1"]`),
		line: 5, key: "connect.destination", err: ErrMissingKey,
		msg: `policy.toml:5: connect.destination: missing; every [[connect]] rule needs destination`,
	},
	{
		name: "missing sources",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `policy = "random"`),
		line: 4, key: "connect.sources", err: ErrMissingKey,
		msg: `policy.toml:4: connect.sources: missing; every [[connect]] rule needs sources`,
	},
	{
		name: "missing ports",
		in:   pad(`[[bind]]`, `sources = ["192.0.2.1"]`),
		line: 4, key: "bind.ports", err: ErrMissingKey,
		msg: `policy.toml:4: bind.ports: missing; every [[bind]] rule needs ports`,
	},
	{
		name: "empty inline table",
		in:   lines(`connect = [`, `  {},`, `]`),
		line: 2, key: "connect.destination", err: ErrMissingKey,
		msg: `policy.toml:2: connect.destination: missing; every [[connect]] rule needs destination`,
	},
	// 7. Empty sources.
	{
		name: "empty sources",
		in:   pad(`[[bind]]`, `ports = "80"`, `sources = []`),
		line: 6, key: "bind.sources", err: policy.ErrNoSources,
		msg: `policy.toml:6: bind.sources: empty; list at least one source address`,
	},
	// 8. Sources that are not addresses, at their own line.
	{
		name: "source not an address",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = [`, `  "192.0.2.1",  # first`, `  # the second:`, `  "192.0.2.300",`, `]`),
		line: 9, key: "connect.sources", err: policy.ErrInvalidSource,
		msg: `policy.toml:9: connect.sources: "192.0.2.300" is not an IP address`,
	},
	{
		name: "source a prefix",
		in:   pad(`[[bind]]`, `ports = "80"`, `sources = ["192.0.2.0/24"]`),
		line: 6, key: "bind.sources", err: policy.ErrInvalidSource,
		msg: `policy.toml:6: bind.sources: "192.0.2.0/24" is not an IP address (sources are single addresses, not prefixes)`,
	},
	// 9. Family.
	{
		name: "IPv6 source for IPv4 destination",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = [`, `  "192.0.2.1",`, `  "2001:db8::1",`, `]`),
		line: 8, key: "connect.sources", err: policy.ErrFamilyMismatch,
		msg: `policy.toml:8: connect.sources: family mismatch: source 2001:db8::1 is IPv6 but destination 10.0.0.0/9 is IPv4`,
	},
	{
		name: "IPv4 source for IPv6 destination",
		in:   lines(`[[connect]]`, `destination = "::/0"`, `sources = ["192.0.2.1"]`),
		line: 3, key: "connect.sources", err: policy.ErrFamilyMismatch,
		msg: `policy.toml:3: connect.sources: family mismatch: source 192.0.2.1 is IPv4 but destination ::/0 is IPv6`,
	},
	// 10. Policy.
	{
		name: "unknown policy",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `policy = "roundrobin"`),
		line: 7, key: "connect.policy", err: policy.ErrUnknownPolicy,
		msg: `policy.toml:7: connect.policy: unknown policy "roundrobin" (valid: onevipa, random, lrr, rr, lc, kernel)`,
	},
	// 11. Ports.
	{
		name: "port out of range",
		in:   pad(`[[bind]]`, `ports = "0-70000"`, `sources = ["192.0.2.1"]`),
		line: 5, key: "bind.ports", err: policy.ErrInvalidPorts,
		msg: `policy.toml:5: bind.ports: invalid ports "0-70000": port 70000 out of range 0-65535`,
	},
	{
		name: "reversed ports",
		in:   pad(`[[bind]]`, `ports = "900-800"`, `sources = ["192.0.2.1"]`),
		line: 5, key: "bind.ports", err: policy.ErrInvalidPorts,
		msg: `policy.toml:5: bind.ports: invalid ports "900-800": reversed range; write 800-900`,
	},
	{
		name: "ports not a number",
		in:   pad(`[[bind]]`, `ports = "abc"`, `sources = ["192.0.2.1"]`),
		line: 5, key: "bind.ports", err: policy.ErrInvalidPorts,
		msg: `policy.toml:5: bind.ports: invalid ports "abc": want a port or a range LO-HI, like "80" or "6000-6999"`,
	},
	{
		name: "integer port out of range",
		in:   pad(`[[bind]]`, `ports = 70000`, `sources = ["192.0.2.1"]`),
		line: 5, key: "bind.ports", err: policy.ErrInvalidPorts,
		msg: `policy.toml:5: bind.ports: port 70000 out of range 0-65535`,
	},
	{
		name: "negative integer port",
		in:   pad(`[[bind]]`, `ports = -1`, `sources = ["192.0.2.1"]`),
		line: 5, key: "bind.ports", err: policy.ErrInvalidPorts,
		msg: `policy.toml:5: bind.ports: port -1 out of range 0-65535`,
	},
	// 12. on_error.
	{
		name: "bad on_error",
		in:   pad(`[[bind]]`, `ports = "80"`, `sources = ["192.0.2.1"]`, `on_error = "ignore"`),
		line: 7, key: "bind.on_error", err: policy.ErrInvalidOnError,
		msg: `policy.toml:7: bind.on_error: invalid on_error "ignore" (valid: continue, fail)`,
	},
	// 13. Sources that are addresses but not VIPAs.
	{
		name: "zoned source",
		in:   lines(`[[connect]]`, `destination = "2001:db8::/32"`, `sources = ["fe80::1%eth0"]`),
		line: 3, key: "connect.sources", err: policy.ErrInvalidSource,
		msg: `policy.toml:3: connect.sources: invalid source: fe80::1%eth0 has a zone; sources must be addresses without %zone`,
	},
	{
		name: "IPv4-mapped source",
		in:   pad(`[[bind]]`, `ports = "80"`, `sources = ["2001:db8::1", "::ffff:1.2.3.4"]`),
		line: 6, key: "bind.sources", err: policy.ErrInvalidSource,
		msg: `policy.toml:6: bind.sources: invalid source: ::ffff:1.2.3.4 is IPv4-mapped; write 1.2.3.4`,
	},
	{
		name: "IPv4-mapped source for IPv4 destination",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["::ffff:192.0.2.1"]`),
		line: 6, key: "connect.sources", err: policy.ErrInvalidSource,
		msg: `policy.toml:6: connect.sources: invalid source: ::ffff:192.0.2.1 is IPv4-mapped; write 192.0.2.1`,
	},
	{
		name: "multicast source",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["224.0.0.1"]`),
		line: 6, key: "connect.sources", err: policy.ErrInvalidSource,
		msg: `policy.toml:6: connect.sources: invalid source: 224.0.0.1 is a multicast address`,
	},
	{
		name: "unspecified source",
		in:   lines(`[[connect]]`, `destination = "2001:db8::/32"`, `sources = ["::"]`),
		line: 3, key: "connect.sources", err: policy.ErrInvalidSource,
		msg: `policy.toml:3: connect.sources: invalid source: :: is the unspecified address`,
	},
	{
		name: "link-local source",
		in:   lines(`[[connect]]`, `destination = "::/0"`, `sources = ["fe80::1"]`),
		line: 3, key: "connect.sources", err: policy.ErrInvalidSource,
		msg: `policy.toml:3: connect.sources: invalid source: fe80::1 is IPv6 link-local; use a global or unique-local address`,
	},
	{
		name: "duplicate source",
		in:   pad(`[[bind]]`, `ports = "80"`, `sources = [`, `  "192.0.2.1",`, `  "192.0.2.1",`, `]`),
		line: 8, key: "bind.sources", err: policy.ErrDuplicateSource,
		msg: `policy.toml:8: bind.sources: duplicate source 192.0.2.1`,
	},
	// 14. No rules.
	{
		name: "empty file",
		in:   "",
		line: 1, err: ErrNoRules,
		msg: `policy.toml:1: no rules: add a [[connect]], [[interface]] or [[bind]] table`,
	},
	{
		name: "only comments",
		in:   lines(`# [[connect]]`, `# destination = "10.0.0.0/8"`),
		line: 1, err: ErrNoRules,
		msg: `policy.toml:1: no rules: add a [[connect]], [[interface]] or [[bind]] table`,
	},
	{
		name: "empty arrays",
		in:   lines(`connect = []`, `bind = []`),
		line: 1, err: ErrNoRules,
		msg: `policy.toml:1: no rules: add a [[connect]], [[interface]] or [[bind]] table`,
	},
	// Line numbers that a naive line scanner gets wrong.
	{
		name: "key-like text in a multi-line string",
		in: lines(`[[connect]]`, `destination = "10.0.0.0/8"`, `sources = ["192.0.2.1"]`,
			`[[bind]]`, `ports = """`, `sources = ["x"]`, `"""`, `sources = ["192.0.2.1"]`),
		line: 5, key: "bind.ports", err: policy.ErrInvalidPorts,
		msg: `policy.toml:5: bind.ports: invalid ports "sources = [\"x\"]\n": want a port or a range LO-HI, like "80" or "6000-6999"`,
	},
	{
		name: "CRLF line ends",
		in:   strings.ReplaceAll(pad(`[[bind]]`, `ports = "80"`, `sources = ["192.0.2.1"]`, `policy = "rr:600"`), "\n", "\r\n"),
		line: 7, key: "bind.policy", err: policy.ErrUnknownPolicy,
		msg: `policy.toml:7: bind.policy: unknown policy "rr:600" (valid: onevipa, random, lrr, rr, lc, kernel)`,
	},
	{
		name: "first error in file order across kinds",
		in: lines(`[[bind]]`, `ports = "80"`, `sources = ["192.0.2.1"]`, `[[connect]]`, `destination = "10.0.0.0/8"`, `souces = ["192.0.2.1"]`,
			`[[bind]]`, `port = "81"`),
		line: 6, key: "connect.souces", err: ErrUnknownKey,
		msg: `policy.toml:6: connect.souces: unknown key; did you mean "sources"?`,
	},
	{
		name: "quoted keys",
		in:   pad(`[[connect]]`, `"destination" = "10.0.0.0/9"`, `'sources' = ["192.0.2.1"]`, `"on_error" = "later"`),
		line: 7, key: "connect.on_error", err: policy.ErrInvalidOnError,
		msg: `policy.toml:7: connect.on_error: invalid on_error "later" (valid: continue, fail)`,
	},
	// Destination ports and protocol of [[connect]] rules.
	{
		name: "connect ports reversed",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `ports = "90-80"`, `sources = ["192.0.2.1"]`),
		line: 6, key: "connect.ports", err: policy.ErrInvalidPorts,
		msg: `policy.toml:6: connect.ports: invalid ports "90-80": reversed range; write 80-90`,
	},
	{
		name: "connect port 0",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `ports = 0`),
		line: 7, key: "connect.ports", err: policy.ErrInvalidPorts,
		msg: `policy.toml:7: connect.ports: port 0 is no destination port; leave ports out to match every port`,
	},
	{
		name: "connect ports wrong type",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `ports = [80, 443]`),
		line: 7, key: "connect.ports", err: ErrType,
		msg: `policy.toml:7: connect.ports: want a port like 80 or a range like "6000-6999", got an array`,
	},
	{
		name: "unknown protocol",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `protocol = "sctp"`, `sources = ["192.0.2.1"]`),
		line: 6, key: "connect.protocol", err: policy.ErrInvalidProtocol,
		msg: `policy.toml:6: connect.protocol: invalid protocol "sctp" (valid: tcp, udp); leave protocol out to match every protocol`,
	},
	{
		name: "protocol wrong type",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `protocol = 6`, `sources = ["192.0.2.1"]`),
		line: 6, key: "connect.protocol", err: ErrType,
		msg: `policy.toml:6: connect.protocol: want "tcp" or "udp", got an integer`,
	},
	{
		name: "protocol on a bind rule",
		in:   pad(`[[bind]]`, `ports = 80`, `sources = ["192.0.2.1"]`, `protocol = "tcp"`),
		line: 7, key: "bind.protocol", err: ErrUnknownKey,
		msg: `policy.toml:7: bind.protocol: unknown key in [[bind]] (valid: ports, sources, policy, rr_mode, on_error)`,
	},
	{
		name: "same destination, ports and protocol",
		in: pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `ports = "80"`, `protocol = "udp"`, `sources = ["192.0.2.1"]`,
			`[[connect]]`, `destination = "10.0.0.0/9"`, `ports = 80`, `protocol = "udp"`, `sources = ["192.0.2.1"]`),
		line: 10, key: "connect.destination", err: policy.ErrDuplicateDestination,
		msg: `policy.toml:10: connect.destination: duplicate destination 10.0.0.0/9: the rule at policy.toml:4 has the same one with the same ports and protocol, so this rule would never match`,
	},
	{
		name: "narrower rule after a wider one",
		in: pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `ports = "1-1024"`, `sources = ["192.0.2.1"]`,
			`[[connect]]`, `destination = "10.0.0.0/9"`, `ports = 443`, `protocol = "tcp"`, `sources = ["192.0.2.1"]`),
		line: 9, key: "connect.destination", err: policy.ErrDuplicateDestination,
		msg: `policy.toml:9: connect.destination: duplicate destination 10.0.0.0/9: the rule at policy.toml:4 has the same one and matches every port and protocol this rule does, so this rule would never match; put the narrower rule first`,
	},
	// Policies lrr, rr, lc, kernel.
	{
		name: "sources missing without policy kernel",
		in:   pad(`[[connect]]`, `destination = "127.0.0.0/8"`, `policy = "lrr"`),
		line: 4, key: "connect.sources", err: ErrMissingKey,
		msg: `policy.toml:4: connect.sources: missing; every [[connect]] rule needs sources`,
	},
	{
		name: "bad source of a kernel rule",
		in:   pad(`[[connect]]`, `destination = "127.0.0.0/8"`, `policy = "kernel"`, `sources = ["::1"]`),
		line: 7, key: "connect.sources", err: policy.ErrFamilyMismatch,
		msg: `policy.toml:7: connect.sources: family mismatch: source ::1 is IPv6 but destination 127.0.0.0/8 is IPv4`,
	},
	{
		name: "rr_mode not octal",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `policy = "rr"`, `rr_mode = "0689"`),
		line: 8, key: "connect.rr_mode", err: policy.ErrInvalidRRMode,
		msg: `policy.toml:8: connect.rr_mode: invalid rr_mode "0689": want octal permissions like "0600" or "0660"`,
	},
	{
		name: "rr_mode as a decimal integer",
		in:   pad(`[[bind]]`, `ports = 80`, `sources = ["192.0.2.1"]`, `policy = "rr"`, `rr_mode = 660`),
		line: 8, key: "bind.rr_mode", err: policy.ErrInvalidRRMode,
		msg: `policy.toml:8: bind.rr_mode: 660 is no mode; write octal permissions as a string, like "0660", or as 0o660`,
	},
	{
		name: "rr_mode without owner write",
		in:   pad(`[[bind]]`, `ports = 80`, `sources = ["192.0.2.1"]`, `policy = "rr"`, `rr_mode = 0o444`),
		line: 8, key: "bind.rr_mode", err: policy.ErrInvalidRRMode,
		msg: `policy.toml:8: bind.rr_mode: invalid rr_mode 0444: the owner needs read and write permission (0600)`,
	},
	{
		name: "rr_mode wrong type",
		in:   pad(`[[bind]]`, `ports = 80`, `sources = ["192.0.2.1"]`, `policy = "rr"`, `rr_mode = true`),
		line: 8, key: "bind.rr_mode", err: ErrType,
		msg: `policy.toml:8: bind.rr_mode: want octal permissions like "0600", got a boolean`,
	},
	{
		name: "rr_mode without policy rr",
		in:   pad(`[[connect]]`, `destination = "10.0.0.0/9"`, `sources = ["192.0.2.1"]`, `rr_mode = "0660"`, `policy = "lrr"`),
		line: 7, key: "connect.rr_mode", err: policy.ErrInvalidRRMode,
		msg: `policy.toml:7: connect.rr_mode: invalid rr_mode: rr_mode is for policy "rr" only, not "lrr"`,
	},
	{
		name: "rr_mode with the default policy",
		in:   pad(`[[bind]]`, `ports = 80`, `sources = ["192.0.2.1"]`, `rr_mode = "0600"`),
		line: 7, key: "bind.rr_mode", err: policy.ErrInvalidRRMode,
		msg: `policy.toml:7: bind.rr_mode: invalid rr_mode: rr_mode is for policy "rr" only, not "onevipa"`,
	},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("policy.toml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse() = %v, want an error", rules(p))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse() error %T (%v) is not a *Error", err, err)
			}
			type where struct {
				File string
				Line int
				Key  string
			}
			if d := diff(where{"policy.toml", tt.line, tt.key}, where{e.File, e.Line, e.Key}); d != "" {
				t.Errorf("position (-want +got):%s", d)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("Parse() error %v does not wrap %v", err, tt.err)
			}
			if d := diff(tt.msg, err.Error()); d != "" {
				t.Errorf("message (-want +got):%s", d)
			}
		})
	}
}

func TestSyntaxErrorWrapsParseError(t *testing.T) {
	_, err := Parse("p.toml", []byte("a = \n"))
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse() error %v does not wrap toml.ParseError", err)
	}
}

// parseTests are valid files and the rules they give. They seed
// FuzzPolicyFile too.
var parseTests = []struct {
	name string
	in   string
	want []string
}{
	{
		name: "defaults",
		in:   lines(`[[connect]]`, `destination = "10.0.0.0/8"`, `sources = ["192.0.2.1"]`),
		want: []string{"connect 10.0.0.0/8 [192.0.2.1] onevipa continue p.toml:1"},
	},
	{
		name: "everything",
		in: lines(
			`# comment`,
			`[[connect]]`,
			`destination = "2001:db8::/32"`,
			`sources = ["2001:db8::10", "2001:db8::11"]`,
			`policy = "random"`,
			`on_error = "fail"`,
			``,
			`[[bind]]`,
			`ports = "6000-6999"`,
			`sources = ["192.0.2.10", "2001:db8::10"]`,
			`policy = "onevipa"`,
			`on_error = "continue"`,
			`[[connect]]  # a second one`,
			`destination = "192.0.2.99"`,
			`sources = ["192.0.2.10"]`,
			`[[bind]]`,
			`ports = 0`,
			`sources = ["192.0.2.10"]`,
			`[[bind]]`,
			`ports = "0-65535"`,
			`sources = ["127.0.0.2"]`,
		),
		want: []string{
			"connect 2001:db8::/32 [2001:db8::10 2001:db8::11] random fail p.toml:2",
			"connect 192.0.2.99/32 [192.0.2.10] onevipa continue p.toml:13",
			"bind 6000-6999 [192.0.2.10 2001:db8::10] onevipa continue p.toml:8",
			"bind 0 [192.0.2.10] onevipa continue p.toml:16",
			"bind 0-65535 [127.0.0.2] onevipa continue p.toml:19",
		},
	},
	{
		name: "integer port",
		in:   lines(`[[bind]]`, `ports = 80`, `sources = ["192.0.2.1"]`),
		want: []string{"bind 80 [192.0.2.1] onevipa continue p.toml:1"},
	},
	{
		name: "inline tables",
		in: lines(
			`connect = [`,
			`  { destination = "10.0.0.0/8", sources = ["192.0.2.1"] },`,
			`  { destination = "::/0", sources = [`,
			`      "2001:db8::1",`,
			`  ], policy = "random" },`,
			`]`,
			`bind = [{ ports = "80", sources = ["192.0.2.1"] }]`,
		),
		want: []string{
			"connect 10.0.0.0/8 [192.0.2.1] onevipa continue p.toml:2",
			"connect ::/0 [2001:db8::1] random continue p.toml:3",
			"bind 80 [192.0.2.1] onevipa continue p.toml:7",
		},
	},
	{
		name: "bare IPv6 address",
		in:   lines(`[[connect]]`, `destination = "2001:db8::7"`, `sources = ["2001:db8::1"]`),
		want: []string{"connect 2001:db8::7/128 [2001:db8::1] onevipa continue p.toml:1"},
	},
	{
		name: "byte order mark",
		in:   "\ufeff" + lines(`[[bind]]`, `ports = "80"`, `sources = ["192.0.2.1"]`),
		want: []string{"bind 80 [192.0.2.1] onevipa continue p.toml:1"},
	},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.toml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(tt.want, rules(p)); d != "" {
				t.Errorf("rules (-want +got):%s", d)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte(lines(`[[bind]]`, `ports = "80"`, `sources = ["192.0.2.1"]`, `ports = "81"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var e *Error
	if !errors.As(err, &e) || e.File != path || e.Line != 4 {
		t.Errorf("Load(%s) = %v, want an *Error at %s:4", path, err, path)
	}

	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

// The example an admin copies must load and do what its comments say.
func TestExample(t *testing.T) {
	p, err := Load("../../examples/policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	connect := []struct {
		dst   string
		proto policy.Protocol
		srcs  []string // "invalid IP" for policy kernel
	}{
		{"203.0.113.7:443", policy.TCP, []string{"192.0.2.10"}},                                // the IPv4 catch-all
		{"203.0.113.7:53", policy.TCP, []string{"192.0.2.10"}},                                 // DNS over TCP: the catch-all
		{"203.0.113.7:53", policy.UDP, []string{"192.0.2.10", "192.0.2.11"}},                   // DNS over UDP
		{"127.0.0.53:53", policy.UDP, []string{"invalid IP"}},                                  // a /8 beats the /0 DNS rule
		{"127.0.0.1:443", policy.TCP, []string{"invalid IP"}},                                  // loopback: the kernel's choice
		{"198.51.100.20:443", policy.TCP, []string{"192.0.2.20"}},                              // a /24 beats 0.0.0.0/0
		{"198.51.100.201:443", policy.TCP, []string{"192.0.2.30", "192.0.2.31"}},               // a /25 beats the /24
		{"198.51.100.200:443", policy.TCP, []string{"192.0.2.30", "192.0.2.31", "192.0.2.32"}}, // a /32 beats the /25
		{"[::ffff:198.51.100.20]:443", policy.TCP, []string{"192.0.2.20"}},                     // IPv4-mapped: IPv4 rules
		{"[2001:db8:1::5]:443", policy.TCP, []string{"2001:db8::10"}},                          // IPv6
	}
	for _, c := range connect {
		src, _, ok := policytest.Connect(p, netip.MustParseAddrPort(c.dst), c.proto, 1)
		if !ok || !slices.Contains(c.srcs, src.String()) {
			t.Errorf("example: connect to %s from %v (matched %v), want one of %v", c.dst, src, ok, c.srcs)
		}
	}
	bind := []struct {
		v6   bool
		port uint16
		src  string
	}{
		{false, 8080, "192.0.2.10"},
		{true, 8080, "2001:db8::10"},
		{false, 443, "192.0.2.40"},
		{true, 443, "192.0.2.40"}, // mapped by the caller
	}
	for _, b := range bind {
		src, _, ok := policytest.Bind(p, b.v6, b.port, 1)
		if !ok || src.String() != b.src {
			t.Errorf("example: bind v6=%v port %d to %v (matched %v), want %s", b.v6, b.port, src, ok, b.src)
		}
	}
	if _, _, ok := policytest.Bind(p, false, 22, 1); ok {
		t.Error("example: bind to port 22 matched a rule, want none")
	}
	// Everything routed out of eth1: the catch-all [[connect]] rules come
	// before the [[interface]] rule, as its comment says.
	viaEth1, err := p.WithEnv(policy.Env{Route: func(netip.Addr) (string, bool) { return "eth1", true }})
	if err != nil {
		t.Fatal(err)
	}
	for dst, want := range map[string]string{"203.0.113.7:443": "192.0.2.10", "[2001:db8:1::5]:443": "2001:db8::10"} {
		m, ok := viaEth1.MatchConnect(netip.MustParseAddrPort(dst), policy.TCP)
		if !ok || m.Interface() != "" || m.Source(1).String() != want {
			t.Errorf("example: connect to %s routed out of eth1 matched %s (interface %q), want the catch-all and %s", dst, m.Origin(), m.Interface(), want)
		}
	}
	if m, ok := viaEth1.MatchInterface(netip.MustParseAddrPort("203.0.113.7:443"), policy.TCP); !ok || m.Source(1).String() != "192.0.2.40" {
		t.Errorf("example: the [[interface]] rule of eth1 = %v, %v; want 192.0.2.40", m.Origin(), ok)
	}
}
