package testutil

import "testing"

// Engines names vipa-exec's two engines, in the order the end-to-end tests
// run them: "seccomp" (the filter and the supervisor) and "bpf" (the
// cgroup sock_addr hooks). A test that checks a source address runs once
// per engine, as t.Run subtests of these names.
var Engines = []string{"seccomp", "bpf"}

// EngineFlag is the option that makes vipa-exec run engine. Tests always
// name the engine: as root, auto would pick bpf.
func EngineFlag(engine string) string { return "--engine=" + engine }

// ForEngines runs f as one subtest per entry of [Engines].
func ForEngines(t *testing.T, f func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range Engines {
		t.Run(engine, func(t *testing.T) { f(t, engine) })
	}
}
