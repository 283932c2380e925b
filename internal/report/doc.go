// Package report is what vipa-exec prints about a policy instead of, or
// before, running a program: the maintenance verbs --check ([Check]),
// --explain ([Explain]), --convert ([Convert]) and --status ([Status]),
// and the launcher's reading of the policy file ([LoadPolicy]) with its
// warnings ([PrintWarnings], [WarnAbsent]). cmd/vipa-exec parses the
// options and calls it.
//
// Each verb returns the exit status it ends with: 0, [ExitWarnings] or
// [ExitUsage]. --explain peeks at the shared state of the running
// supervisors (supervisor.State) as a supervisor of the same file would,
// and asks the kernel for routes; it changes nothing.
//
// # Environment
//
// VIPA_EXEC_POLICY, then SRC_VIPA_CONFIG_FILE (src_vipa's), name the
// policy file when -p does not.
package report
