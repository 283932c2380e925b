// Package trusted reads files that a vipa-exec running as root may believe,
// and checks directories it keeps state in.
//
// # The rule
//
// As sshd's StrictModes: when the effective uid is root, a file and every
// directory on its path (as named, and with symbolic links resolved) must be
// owned by root or by the caller (the real uid, the user who ran
// vipa-exec), and writable by nobody else: not by others, and not by a
// group other than root's. A root-owned sticky directory such as /tmp may
// be writable by all: nobody but root and the owner can rename or remove
// what it holds. Anybody else could otherwise edit a root program's policy,
// or swap the file or a directory above it, live.
//
// A vipa-exec that is not root needs no such check: its program runs as the
// same user, who can do as much without vipa-exec. Every reader still
// requires a regular file and caps its size, so that a FIFO, a device or a
// file of a terabyte cannot stall or kill the supervisor.
package trusted
