// Package conf reads policy files: TOML with [[connect]], [[interface]]
// and [[bind]] tables, or src_vipa 2.x configuration files, turned into a
// [policy.Policy].
//
// examples/policy.toml documents the format for administrators.
//
// # src_vipa.conf files
//
// [Read] tells the formats apart by content ([IsLegacy]): the first line
// that is not blank or a comment starts with ".INADDR_ANY" or DEST/MASK in a
// src_vipa.conf file, and no such line of a TOML file can. A src_vipa.conf
// file becomes the rules of the TOML file [Convert] prints for it, checked by
// the same code: "DEST/MASK POLICY S..." lines are [[connect]] rules,
// ".INADDR_ANY P[-P] POLICY S..." lines [[bind]] rules. What src_vipa did
// differently from a TOML file is kept, with a [Warning] where a file
// probably says something it did not mean:
//
//   - src_vipa filled a table of ports line by line, so a later .INADDR_ANY
//     line overrides an earlier one where they overlap; the first [[bind]]
//     rule that matches wins, so such a line's rule goes before the earlier
//     one.
//   - A later line with the same DEST/MASK wins (src_vipa looked rules up
//     newest first); host bits of DEST are ignored.
//   - A policy it cannot parse is round robin ("rr").
//   - Host names (sources, and DEST) are resolved when the file is read,
//     through a [Resolver]; a rule takes the first address of its family
//     from each, IPv4 where the destination and a source have one.
//     [Result.Hosts] keeps the answers: read through [StaticResolver], the
//     file gives the same policy again without a lookup.
//   - A source may be 0.0.0.0 or :: in .INADDR_ANY lines: the bind stays on
//     the wildcard address.
//
// src_vipa skipped a line it could not read; here it is an [*Error] like
// any other, naming the line.
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
