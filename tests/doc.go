// Package tests holds the end-to-end tests of vipa-exec: they build the real
// binary and run real programs under it (a static Go client, static busybox,
// a dynamically linked C client, curl, python3 and, when installed, Java),
// each in a throwaway network namespace, and check on the server side which
// source address arrived.
//
// # Running
//
// As root: go test ./tests/ (or make test). Without root the tests that need
// it (all but the policy-error and client-linkage ones) skip, and fail under
// CI=true. VIPA_EXEC=/path/vipa-exec
// tests a prebuilt binary instead of building ./cmd/vipa-exec.
//
// # Invariants
//
// Every test that expects a rewritten source first runs the same client
// without vipa-exec and checks the kernel's own choice, so that it fails if
// vipa-exec did nothing. Traffic never leaves the test's namespace: servers
// and virtual addresses live on that namespace's lo. Every run of vipa-exec
// is followed by a check that its supervisor exited by itself.
//
// The client sources are in ./clients: goclient (static Go), cclient
// (dynamic C) and java; among the C programs for one case each, llbind
// (binds under Landlock, from read-only memory) and churn (a thread per
// connection).
package tests
