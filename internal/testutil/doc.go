// Package testutil is the one test-support package of vipa-exec: privilege
// gates, throwaway network namespaces, a connection recorder, builders for
// vipa-exec and the test clients, and an fd-leak check for TestMain.
//
// # Gates
//
// A test that cannot run for lack of a prerequisite (root, a tool) skips on a
// developer's machine and fails when CI=true, so CI never reports a green run
// that tested nothing.
//
// # Network namespaces
//
// Every namespace is created with `ip netns add vipa-test-<random>` and
// deleted by tb.Cleanup. Sockets the test process itself needs inside a
// namespace are created on a locked OS thread that entered the namespace and
// then ends without unlocking, so the Go runtime throws that thread away and
// no goroutine ever runs in the wrong namespace. The sockets stay in the
// namespace they were created in.
//
// [NetNS.Command] runs a command in a namespace through `ip netns exec`,
// which mounts a fresh sysfs over /sys, where the cgroup v2 hierarchy and the
// BPF filesystem the bpf engine needs are missing; [NetNS.HostSysCommand]
// keeps the host's /sys (nsenter, then unshare). Either gives the command a
// mount namespace of its own, with the namespace's /etc files bind-mounted.
//
// # Binaries
//
// Built binaries (vipa-exec, clients) are built once per test binary into a
// directory of mode 0755, so that the user nobody can execute them, and are
// removed by [Main]. Setting VIPA_EXEC to a prebuilt vipa-exec skips building
// it; the file must be executable by nobody for the unprivileged tests.
//
// # Engines
//
// vipa-exec has two engines, seccomp and bpf. [Engines] lists them and
// [ForEngines] runs a test once under each; every end-to-end test that checks
// the source address a server saw runs under both, and names the engine on
// vipa-exec's command line ([EngineFlag]), since as root auto picks bpf.
//
// # Environment
//
// CI=true turns skips for missing prerequisites into failures.
// VIPA_EXEC names a prebuilt vipa-exec binary to test instead of building one.
package testutil
