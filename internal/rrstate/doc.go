// Package rrstate keeps the counters of rr rules, which every vipa-exec
// instance using the same rule of the same policy file shares: one rotation
// over the sources across all of them at the same moment.
//
// # The state
//
// Each counter is a file of one page in the directory (a supervisor uses
// [DirFor] its euid: root's [DefaultDir], /run/vipa-exec/rr, on tmpfs; a
// user's /run/user/UID/vipa-exec/rr), named rr- plus a hash of the policy
// file's path and the rule, and created with the rule's rr_mode. The
// counter is a uint64 at a fixed offset that every instance maps
// (MAP_SHARED) and increments atomically: no lock and no system call per
// connection. The first line of the file says what it is, the last names the
// policy file and rule.
//
// # Lifetime
//
// An instance holds a shared flock on each counter file it uses, for as long
// as it runs. When it closes the [Dir], it tries to turn that into an
// exclusive lock without waiting; the last instance succeeds and removes the
// file. The kernel drops the locks of an instance that is killed, even with
// SIGKILL, so no lock is ever held by the dead; its files are removed by the
// next instance that opens the directory (a sweep takes the exclusive lock
// of every file nobody holds and removes it). An opener that lost a race
// with a remover sees that the path no longer names its file and starts
// over. So nothing outlives the last instance that uses a rule, except after
// a supervisor itself is killed, until the next instance starts; and a fresh
// counter starts at a random value, so that instances that never overlap
// still spread their first connections.
//
// Unlike src_vipa's SysV shared memory, nothing is left per run: at most one
// page per rule in use, in a directory that a reboot empties.
//
// # Trust
//
// Whoever may write a counter may steer which of the rule's sources the
// next connections get (never pick another address), and counter names are
// predictable. So the directory and those above it must be owned by root or
// the instance's euid and writable by nobody else, and a counter made by
// another instance is used only if owned by root or the euid with no mode
// bits beyond the rule's rr_mode; anything else is an error wrapping
// [ErrUntrusted]. Instances of different users therefore never share a
// counter. A counter truncated under a
// mapping would raise SIGBUS; the counter catches that fault and goes on
// with a counter of its own process.
package rrstate
