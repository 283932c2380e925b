// Package policytest is test support for packages that build a
// [policy.Policy] (internal/conf): the whole call of a supervisor, match and
// pick, in one function. It is imported only by _test.go files (a depguard
// rule in .golangci.yml holds that), so production code keeps the two steps
// apart: the supervisor looks at the socket between them.
package policytest
