package bpfengine

// The BPF object is built for bpfel, little-endian BPF, which serves both
// architectures vipa-exec ships for (amd64 and arm64); the generated Go file
// and object are committed, so that go build needs no clang.
// TestGeneratedUpToDate runs the same command and compares.
//
// -mcpu=v3: atomic fetch-and-add (rr, lrr) needs BPF atomics (Linux 5.12).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3 -Iinclude" -target bpfel -type vipa_key -type vipa_rule -type vipa_rule_key -type vipa_instance -type vipa_match -type vipa_chain -type vipa_lrr_key -type vipa_source_key -type vipa_stats -type vipa_addr -type vipa_kind -type vipa_proto -type vipa_policy -type vipa_on_error -type vipa_op -type vipa_reason vipa vipa.bpf.c
