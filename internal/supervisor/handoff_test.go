package supervisor

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/conf"
)

// TestHandoff: the supervisor serves the addresses the launcher resolved
// and checked, and looks nothing up itself: a name the launcher did not
// resolve fails instead of reaching a resolver.
func TestHandoff(t *testing.T) {
	data := []byte("10.0.0.0/8 onevipa web-vip.invalid\n")
	checked := map[string][]netip.Addr{"web-vip.invalid": {netip.MustParseAddr("192.0.2.77")}}
	b, err := EncodeHandoff(data, &conf.Result{Hosts: checked})
	if err != nil {
		t.Fatal(err)
	}
	got, pol, err := readHandoff("/etc/src_vipa.conf", b)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(data) {
		t.Errorf("file bytes %q, want %q", got, data)
	}
	rules := pol.ConnectRules()
	if len(rules) != 1 || len(rules[0].Sources) != 1 || rules[0].Sources[0] != checked["web-vip.invalid"][0] {
		t.Errorf("rules %+v, want one with the launcher's source 192.0.2.77", rules)
	}

	b, err = EncodeHandoff([]byte("10.0.0.0/8 onevipa other.invalid\n"), &conf.Result{Hosts: checked})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := readHandoff("/etc/src_vipa.conf", b); !errors.Is(err, conf.ErrResolve) {
		t.Errorf("a name the launcher did not resolve: %v, want conf.ErrResolve", err)
	}
	if _, _, err := readHandoff("/etc/src_vipa.conf", data); err == nil {
		t.Error("raw file bytes taken for a hand-off")
	}
}
