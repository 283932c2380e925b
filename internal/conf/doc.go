// Package conf reads policy files: TOML with [[connect]] and [[bind]]
// tables, turned into a [policy.Policy].
//
// examples/policy.toml documents the format for administrators.
//
// # Errors
//
// Every problem with a file's contents is an [*Error] that prints as one
// line, "FILE:LINE: KEY: MESSAGE" (or "FILE:LINE: MESSAGE" when no key
// applies), so that the launcher can print it as its only diagnosis. The
// first problem in file order is reported. The line is that of the offending
// key or array element, or of the rule's [[header]] for a missing key.
//
// The TOML library keeps one position per key name, which for arrays of
// tables is that of the last table; locate.go therefore finds the lines with a
// small scanner of its own, run only on files the library has accepted.
//
// # Division of labour
//
// This package checks the shape of the file (known keys, types, syntax of
// addresses and port ranges); package policy judges the values (host bits,
// address families, sources that cannot be VIPAs, duplicates), and its
// [policy.RuleError] says which rule, key and element to point at.
package conf
