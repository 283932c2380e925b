// Package status lets `vipa-exec --status PID` ask a running supervisor
// what it does.
//
// Each supervisor listens on the unix socket PID.sock in a directory only
// its user can write (root's /run/vipa-exec/status, another user's
// /run/user/UID/vipa-exec/status), PID being the program it serves, and on
// SPID.sock, SPID its own; and on the abstract sockets "@vipa-exec/PID" and
// "@vipa-exec/SPID", which belong to its network namespace and which
// anybody may have taken first. A client tries root's path, its own user's,
// then the abstract name, connects, sends one line of JSON (a [Request]:
// "do you serve PID?") and reads one JSON [Report] (version [Schema]); the
// supervisor answers only clients running as root or as its own user
// (SO_PEERCRED), refusing others before it reads their request, and the
// client believes only a supervisor run by root or by itself (root's
// listing also believes a user's supervisor at that user's socket path).
// A pid that descends from no program is found by asking every supervisor
// ([Supervisors]: the socket files, and the listening abstract names of
// /proc/net/unix) whether it serves it ([Serves]). A socket file is removed when its supervisor exits; one left
// by a killed supervisor is replaced by the next with the same name.
package status
