/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vipa.h - the maps of the in-kernel engine and their key and value types,
 * declared once. The Go side names the same types (bpf2go -type), so the
 * rule layout is one struct both sides share.
 */
#ifndef VIPA_H
#define VIPA_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Limits of one policy in maps; Unsupported (unsupported.go) refuses more. */
#define VIPA_MAX_SOURCES	16	/* sources of one rule for one family */
#define VIPA_MAX_CHAIN		16	/* rules a destination can match, in order */
#define VIPA_MAX_PREFIXES	4096	/* distinct destinations, plus the bind lists */
#define VIPA_MAX_RULES		2048	/* rules of two generations of one instance */
#define VIPA_MAX_INSTANCES	1024	/* instances (policies) served at once */
#define VIPA_MAX_ALL_RULES	32768	/* rules of every instance */
#define VIPA_MAX_ALL_SOURCES	131072	/* sources of every instance's rules */
#define VIPA_MAX_ADDRS		4096	/* sources lc counts sockets of */
#define VIPA_MAX_RR		1024	/* rr rules */
#define VIPA_MAX_PROCS		8192	/* (instance, process, rule) lrr remembers (LRU, preallocated) */
#define VIPA_MAX_SOURCE_STATS	4096	/* (instance, rule, source) bind counters (LRU, preallocated) */

/*
 * The first byte of every trie key says what the entry is for, so that one
 * trie holds a whole generation of the policy: connect rules of each family
 * under their destination prefix, bind rules of each family under the kind
 * alone.
 */
enum vipa_kind {
	VIPA_KIND_CONNECT4 = 1,
	VIPA_KIND_CONNECT6,
	VIPA_KIND_BIND4,
	VIPA_KIND_BIND6,
};

#define VIPA_KIND_BITS		8	/* the kind byte's share of prefixlen */

enum vipa_proto {
	VIPA_PROTO_ANY,	/* a rule for every protocol; a call neither TCP nor UDP */
	VIPA_PROTO_TCP,
	VIPA_PROTO_UDP,
};

enum vipa_policy {
	VIPA_POLICY_ONEVIPA,
	VIPA_POLICY_RANDOM,
	VIPA_POLICY_LRR,
	VIPA_POLICY_RR,
	VIPA_POLICY_LC,
	VIPA_POLICY_KERNEL,
};

enum vipa_on_error {
	VIPA_ON_ERROR_CONTINUE,
	VIPA_ON_ERROR_FAIL,
};

/* The calls counted, by hook; names as internal/notify's Op. */
enum vipa_op {
	VIPA_OP_CONNECT,
	VIPA_OP_BIND,
	VIPA_OP_SENDMSG,
	VIPA_NUM_OPS,
};

/*
 * Why a call was left alone: the values of internal/rewrite's Reason, which
 * names them in --status (a test checks that they agree).
 */
enum vipa_reason {
	VIPA_REASON_NONE = 0,
	VIPA_REASON_BOUND_BY_PROGRAM = 7,
	VIPA_REASON_NO_RULE = 9,
	VIPA_REASON_POLICY_KERNEL = 10,
	VIPA_REASON_NOT_WILDCARD = 11,
	VIPA_REASON_NOT_TCP_UDP = 16,
	VIPA_REASON_BIND_FAILED = 18,
	VIPA_REASON_NO_SOURCE_PRESENT = 19,
	VIPA_REASON_PKTINFO = 21,
	VIPA_NUM_REASONS = 23,
};

/* An address: IPv6, or IPv4 as ::ffff:a.b.c.d. Network byte order. */
struct vipa_addr {
	__u8 b[16];
};

struct vipa_key {
	__u32 prefixlen;	/* VIPA_KIND_BITS plus the prefix's bits */
	__u8 kind;		/* enum vipa_kind */
	__u8 addr[16];		/* IPv4: the first 4 bytes */
};

/* What a call needs to find its rule: the rule's match, and its id. */
struct vipa_match {
	__u32 rule;		/* key of rules and sources */
	__u16 port_lo;		/* destination (connect) or bound (bind) ports */
	__u16 port_hi;
	__u8 proto;		/* enum vipa_proto */
	__u8 pad[3];
};

/* The rules a trie entry's calls try, in the order internal/policy does. */
struct vipa_chain {
	__u32 nrules;
	struct vipa_match rules[VIPA_MAX_CHAIN];
};

/*
 * An instance is one vipa-exec's policy: its entries in the shared maps are
 * keyed by its id, the id of the cgroup its programs are attached to (the
 * inode number of the cgroup's directory).
 */
struct vipa_rule_key {
	__u64 instance;
	__u32 rule;
	__u32 pad;
};

/*
 * A rule, keyed by an id no other generation of its instance uses: a generation's rules and
 * sources are in place before its trie is, and stay one generation longer.
 */
struct vipa_rule {
	__u8 policy;		/* enum vipa_policy */
	__u8 on_error;		/* enum vipa_on_error */
	__u16 pad;
	__u32 nsources;		/* those present, unless absent_sources = "use" */
	__u64 rr_key;		/* the rr counter shared by instances */
};

struct vipa_lrr_key {
	__u64 instance;
	__u32 tgid;
	__u32 rule;
};

/* A source of a rule; its bind counter. */
struct vipa_source_key {
	__u64 instance;
	__u32 rule;
	__u32 index;		/* in rule order */
};

struct vipa_stats {
	__u64 calls[VIPA_NUM_OPS];
	__u64 bound;
	__u64 failed;
	__u64 left_alone[VIPA_NUM_REASONS];
};

/*
 * What a program knows of the instance whose attachment runs it: per-CPU
 * storage of the cgroup the programs are attached to, which the kernel
 * hands each run of a program attached at several cgroups (nesting) for the
 * attachment that runs. The supervisor sets id after attaching; until then
 * it is 0, and calls are left alone. The kernel frees it with the
 * attachment.
 */
struct vipa_instance {
	__u64 id;		/* the cgroup id: the key of the instance's entries */
	struct vipa_stats stats;
};

/*
 * The shared maps below are created once and pinned (cache.go); every
 * instance adds its entries, keyed by its id, and removes them on exit.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE);
	__type(key, __u64);	/* cgroup id: one storage for every attach type */
	__type(value, struct vipa_instance);
} instances SEC(".maps");

/*
 * Each instance's generation of the policy, an LPM trie: replaced whole by
 * one update of the instance's key.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, VIPA_MAX_INSTANCES);
	__type(key, __u64);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);
		__uint(max_entries, VIPA_MAX_PREFIXES);
		__uint(map_flags, BPF_F_NO_PREALLOC);
		__uint(key_size, sizeof(struct vipa_key));
		__uint(value_size, sizeof(struct vipa_chain));
	});
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* mostly empty: no preallocation */
	__uint(max_entries, VIPA_MAX_ALL_RULES);
	__type(key, struct vipa_rule_key);
	__type(value, struct vipa_rule);
} rules SEC(".maps");

/*
 * The sources of each rule, looked up one by one: an index chosen from data
 * (random, rr, lrr, lc) never offsets a pointer into a map value, which the
 * verifier refuses without CAP_PERFMON (its Spectre v1 rule).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* mostly empty: no preallocation */
	__uint(max_entries, VIPA_MAX_ALL_SOURCES);
	__type(key, struct vipa_source_key);
	__type(value, struct vipa_addr);
} sources SEC(".maps");

/* rr: one counter per rule, keyed by a hash of the file and the rule. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* mostly empty: no preallocation */
	__uint(max_entries, VIPA_MAX_RR);
	__type(key, __u64);
	__type(value, __u64);
} rr SEC(".maps");

/* lrr: the next value of each process's rotation, per instance and rule. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VIPA_MAX_PROCS);
	__type(key, struct vipa_lrr_key);
	__type(value, __u64);
} lrr SEC(".maps");

/*
 * lc: live sockets per source, refreshed by the supervisors from sock_diag:
 * the host's counts, the same for every instance.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* mostly empty: no preallocation */
	__uint(max_entries, VIPA_MAX_ADDRS);
	__type(key, struct vipa_addr);
	__type(value, __s64);
} lc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, VIPA_MAX_SOURCE_STATS);
	__type(key, struct vipa_source_key);
	__type(value, __u64);
} source_stats SEC(".maps");

#endif /* VIPA_H */
