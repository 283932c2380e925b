// Package supervisor is the supervisor process of vipa-exec: what it does
// from the launcher's hand-off until the program and its descendants are
// gone. cmd/vipa-exec wires it to package launch ([Prepare]) and uses the
// launcher's side of the hand-off ([EncodeHandoff], [FilterOptions],
// [LogSettings]).
//
// # Engines
//
// An engine applies the policy to the program's calls: it matches a call
// to a rule, selects a source, binds it and counts. The rest is the same
// for every engine and lives here: reading the handed-over policy, its
// state ([State]: rr's shared counters, lc's socket counts), the host's
// addresses and routes as they change, reloading the policy file on a
// change or SIGHUP, the counters on SIGUSR1, the --status answers. Two
// engines implement the engine interface: seccomp (internal/notify and
// internal/rewrite, on the listener the launcher hands over) and bpf
// (internal/bpfengine on the program's cgroup from internal/cgroup, which
// the supervisor makes and moves the program into before its ack).
// [ChooseEngine] is the launcher's choice between them.
//
// # Signals
//
// A detached supervisor reloads on SIGHUP and logs its counters on SIGUSR1;
// a parent supervisor (--supervise=parent) takes no signal for itself, as
// it forwards them to the program, and polls its policy file.
//
// # Environment
//
// [LogEnv] carries --log-level and --log-format to a detached supervisor;
// $JOURNAL_STREAM, when it names stderr, drops the timestamps.
package supervisor
