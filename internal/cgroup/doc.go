// Package cgroup is the cgroup v2 side of the bpf engine: it makes the
// program's own cgroup, a child of the one vipa-exec was started in, puts
// the program there, tells when its last process has exited, and removes it.
//
// # Where the group lives
//
// [Create] makes PARENT/vipa-exec.PID, PID being the program's (vipa-exec's
// own, which the program keeps). Under systemd PARENT is inside the unit's
// cgroup, so KillMode, MainPID and the unit's accounting keep counting the
// program; creating a child there needs the unit's Delegate=yes unless the
// caller is root. When PARENT has controllers enabled in
// cgroup.subtree_control, cgroup v2's no-internal-processes rule applies to
// PARENT itself, not to the group, which only ever holds the program.
//
// # Stale groups
//
// A group whose processes were all killed (SIGKILL of everything, vipa-exec
// included) outlives them. The next Create under the same parent removes
// every empty vipa-exec.N sibling ("populated 0") whose N is no live
// process and that no owner holds: a [Group] keeps an exclusive flock on
// its directory until it is closed, since after the program exits its
// group is empty and its N dead while the supervisor still waits for
// cgroup.events to say so (the kernel drops that notification when the
// group is gone first). rmdir refuses a group that is not empty (EBUSY),
// so a live one is never taken away. PIDs are read in the caller's PID namespace: instances
// in different PID namespaces need different parents. [Alive], the check
// that N is a process, is also lrr's, whatever the engine (the supervisor,
// which imports this package, has no kill of its own).
//
// # Paths are input
//
// Under delegation the parent directory belongs to another user. Nothing
// below it is resolved by path: every file is opened from a directory
// descriptor with openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, and the parent
// itself with RESOLVE_NO_SYMLINKS, and it must be on a cgroup2 file system.
package cgroup
