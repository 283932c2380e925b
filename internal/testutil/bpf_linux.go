//go:build linux

package testutil

import (
	"testing"

	"github.com/cilium/ebpf/link"
)

// CgroupLinks returns the ids of the bpf links attached to the cgroup of id
// cgid: the bpf engine's, while an instance serves that group.
func CgroupLinks(t *testing.T, cgid uint64) []link.ID {
	t.Helper()
	var ids []link.ID
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if c := info.Cgroup(); c != nil && c.CgroupId == cgid {
			ids = append(ids, it.ID)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}
