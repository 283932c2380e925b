//go:build linux

package bpfengine

import (
	"errors"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// The tests' instances share counters with no other instance.
func init() { rrPrefix = "rrtest_" }

func pinExists(t *testing.T) bool {
	t.Helper()
	_, err := os.Stat(pinDir + "/" + rrPrefix + strconv.Itoa(os.Geteuid()))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// TestRRShared: two instances of the same rr rule of the same file (two
// engines, two cgroups) share one rotation; the last to close unpins the
// counters, and an instance that finds a pin nobody holds (its instances
// were killed) starts afresh.
func TestRRShared(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the pinned map is root's") // newWorld requires root
	}
	p := mustPolicy(t, []policy.ConnectRule{{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: vipas4, Policy: policy.RR}}, nil)
	w := newWorld(t, p)
	cg2 := newCgroup(t)
	e2, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.Attach(cg2.fd); err != nil {
		_ = e2.Close()
		t.Fatal(err)
	}
	w2 := &world{ns: w.ns, cg: cg2, rec: w.rec, e: e2}
	var got []netip.Addr
	for range 3 {
		got = append(got, w.goclient(t, "tcp4", "127.0.0.1", "", 1)...)
		got = append(got, w2.goclient(t, "tcp4", "127.0.0.1", "", 1)...)
	}
	if !rotates(got, vipas4) {
		t.Errorf("sources %v, alternating between the instances: want one rotation over %v", got, vipas4)
	}
	if !pinExists(t) {
		t.Fatal("no pinned rr map while instances run")
	}
	if err := e2.Close(); err != nil {
		t.Fatal(err)
	}
	if !pinExists(t) {
		t.Fatal("the rr map was unpinned while an instance still runs")
	}

	// The last instance killed: its lock goes, its pin stays.
	e3, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e3.Close() }()
	if err := w.e.Close(); err != nil {
		t.Fatal(err)
	}
	if !pinExists(t) {
		t.Fatal("the rr map was unpinned while an instance still runs")
	}
	_ = e3.share.lock.Close()
	e3.share = nil
	e4, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	i3, _ := e3.objs.Rr.Info()
	i4, _ := e4.objs.Rr.Info()
	id3, _ := i3.ID()
	id4, _ := i4.ID()
	if id3 == id4 {
		t.Errorf("the next instance reused the dead instances' rr map %d", id3)
	}
	if err := e4.Close(); err != nil {
		t.Fatal(err)
	}
	if pinExists(t) {
		t.Error("the last instance left its rr map pinned")
	}
}
