// Package status lets `vipa-exec --status PID` ask a running supervisor
// what it does.
//
// Each supervisor listens on the abstract unix sockets "@vipa-exec/PID",
// PID being the program it serves, and "@vipa-exec/SPID", SPID its own.
// A client connects and reads one JSON
// [Report]; the supervisor answers only clients running as root or as its
// own user (SO_PEERCRED), and the client believes only a supervisor run by
// root or by itself. Abstract names belong to a network namespace, so
// the client must run in the supervisor's; no file is left behind when a
// supervisor dies.
package status
