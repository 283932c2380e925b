// SPDX-License-Identifier: GPL-2.0
//go:build ignore
/*
 * vipa.bpf.c - the in-kernel engine: cgroup sock_addr programs that give a
 * program's sockets their source address by the policy in maps (vipa.h).
 *
 * connect4/6 bind an unbound socket to the chosen source with bpf_bind(),
 * port 0, which binds the address only (IP_BIND_ADDRESS_NO_PORT), so that
 * the kernel picks the port with the whole 4-tuple. bind4/6 rewrite a bind
 * to the wildcard address by the [[bind]] rules; the kernel then checks the
 * port's privilege against the program itself. sendmsg4/6 set the source of
 * an unconnected UDP datagram from an unbound socket.
 *
 * Indexes that come from data (a random or rotating choice) never offset a
 * pointer into a map value: a rule and each of its sources are map entries
 * of their own, looked up by key, and the one loop over a map value (the
 * rules of a trie entry) is unrolled. So the verifier's Spectre v1 rule for
 * callers without CAP_PERFMON is satisfied.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "vipa.h"

/* From the C library's <sys/socket.h>, which a BPF object cannot include. */
#define VIPA_AF_INET		2
#define VIPA_AF_INET6		10
#define VIPA_SOCK_STREAM	1

/* A cgroup sock_addr program lets the call go on, or fails it with EPERM. */
#define VIPA_ALLOW		1
#define VIPA_DENY		0

char LICENSE[] SEC("license") = "GPL";

/*
 * BTF describes only the types of globals and maps; the generation's key and
 * value (sized by key_size and value_size: an inner map's types would be
 * mere forward declarations) and the enums appear here, for bpf2go -type.
 */
const struct {
	struct vipa_key key[0];
	struct vipa_chain chain[0];
	enum vipa_kind kind;
	enum vipa_proto proto;
	enum vipa_policy policy;
	enum vipa_on_error on_error;
	enum vipa_op op;
	enum vipa_reason reason;
} vipa_types __attribute__((used));

/*
 * The instance of the attachment that runs: its storage is never NULL (the
 * kernel allocates it when the programs are attached).
 */
static __always_inline struct vipa_instance *instance(void)
{
	return bpf_get_local_storage(&instances, 0);
}

static __always_inline void count_call(struct vipa_instance *inst, enum vipa_op op)
{
	__sync_fetch_and_add(&inst->stats.calls[op], 1);
}

/*
 * leave asks for the storage again, and checks it, rather than use the
 * caller's pointer: clang would otherwise merge the calls into one add, to
 * that pointer, of a reason chosen by path, which the verifier's Spectre v1
 * rule refuses without CAP_PERFMON (TestSupportedWithoutPerfmon).
 */
static __always_inline int leave(struct vipa_instance *inst, enum vipa_reason why)
{
	struct vipa_instance *own = instance();

	(void)inst;
	if (own)
		__sync_fetch_and_add(&own->stats.left_alone[why], 1);
	return VIPA_ALLOW;
}

static __always_inline int fail(struct vipa_instance *inst)
{
	__sync_fetch_and_add(&inst->stats.failed, 1);
	return VIPA_DENY;
}

static __always_inline void count_bound(struct vipa_instance *inst, __u32 id, __u32 index)
{
	struct vipa_source_key key = { .instance = inst->id, .rule = id, .index = index };
	__u64 one = 1, *n;

	__sync_fetch_and_add(&inst->stats.bound, 1);
	n = bpf_map_lookup_elem(&source_stats, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&source_stats, &key, &one, BPF_NOEXIST);
}

/* The protocol a rule's protocol is compared with, as internal/policy's. */
static __always_inline __u8 sock_proto(const struct bpf_sock_addr *ctx)
{
	__u32 type = ctx->type, proto = ctx->protocol;

	if (type == VIPA_SOCK_STREAM && (proto == IPPROTO_TCP || proto == IPPROTO_MPTCP))
		return VIPA_PROTO_TCP;
	if (proto == IPPROTO_UDP)
		return VIPA_PROTO_UDP;
	return VIPA_PROTO_ANY;
}

/*
 * Whether the program bound the socket itself, to an address or (if port) a
 * port: its choice stands. bpf_bind() would not fail on a socket bound to an address
 * only (IP_BIND_ADDRESS_NO_PORT), it would bind it again.
 */
static __always_inline int sock_bound(const struct bpf_sock_addr *ctx, int v6, int port)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return 0;
	if (port && sk->src_port)
		return 1;
	if (!v6)
		return sk->src_ip4 != 0;
	return (sk->src_ip6[0] | sk->src_ip6[1] | sk->src_ip6[2] | sk->src_ip6[3]) != 0;
}

/*
 * The chain of rules for key in the generation of the instance's policy now
 * in force.
 */
static __always_inline struct vipa_chain *lookup_chain(const struct vipa_instance *inst, struct vipa_key *key)
{
	__u64 instance = inst->id;
	void *trie;

	trie = bpf_map_lookup_elem(&policy, &instance);
	if (!trie)
		return NULL;
	return bpf_map_lookup_elem(trie, key);
}

/*
 * The first rule of chain whose ports contain port and protocol matches, or
 * NULL. The loop is unrolled: each entry is read at a constant offset.
 */
static __always_inline struct vipa_rule *match(const struct vipa_instance *inst, struct vipa_chain *chain,
					       __u8 proto, __u16 port, __u32 *id)
{
	struct vipa_rule_key key = { .instance = inst->id };
	__u32 i, n = chain->nrules;
	int found = 0;

	#pragma unroll
	for (i = 0; i < VIPA_MAX_CHAIN; i++) {
		/*
		 * A volatile load in each step: clang must not merge the
		 * steps' loads into one at a register offset.
		 */
		__u32 rule = *(volatile __u32 *)&chain->rules[i].rule;

		if (found || i >= n)
			continue;
		if (port < chain->rules[i].port_lo || port > chain->rules[i].port_hi)
			continue;
		if (chain->rules[i].proto != VIPA_PROTO_ANY && chain->rules[i].proto != proto)
			continue;
		*id = rule;
		found = 1;
	}
	if (!found)
		return NULL;
	key.rule = *id;
	return bpf_map_lookup_elem(&rules, &key);
}

static __always_inline __u64 next_rr(const struct vipa_rule *r)
{
	__u64 key = r->rr_key, *c;

	c = bpf_map_lookup_elem(&rr, &key);
	if (!c)
		return 0;
	return __sync_fetch_and_add(c, 1);
}

/* lrr: each process's own rotation, from a random start. */
static __always_inline __u64 next_lrr(const struct vipa_instance *inst, __u32 id)
{
	struct vipa_lrr_key key = {
		.instance = inst->id,
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.rule = id,
	};
	__u64 start, *c;

	c = bpf_map_lookup_elem(&lrr, &key);
	if (!c) {
		start = bpf_get_prandom_u32();
		bpf_map_update_elem(&lrr, &key, &start, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&lrr, &key);
		if (!c)
			return start;
	}
	return __sync_fetch_and_add(c, 1);
}

/* lc: the source with the fewest live sockets, the earlier on a tie. */
static __always_inline __u32 pick_lc(const struct vipa_instance *inst, const struct vipa_rule *r, __u32 id)
{
	struct vipa_source_key key = { .instance = inst->id, .rule = id };
	__u32 i, n = r->nsources, best = 0;
	struct vipa_addr *a;
	__s64 fewest = 0;

	#pragma unroll
	for (i = 0; i < VIPA_MAX_SOURCES; i++) {
		__s64 count = 0, *c;

		if (i >= n)
			continue;
		key.index = i;
		a = bpf_map_lookup_elem(&sources, &key);
		if (!a)
			continue;
		c = bpf_map_lookup_elem(&lc, a);
		if (c)
			count = *c;
		if (i == 0 || count < fewest) {
			best = i;
			fewest = count;
		}
	}
	return best;
}

/* lc counts the socket about to be bound at once. */
static __always_inline void count_lc(const struct vipa_addr *src)
{
	__s64 one = 1, *c;

	c = bpf_map_lookup_elem(&lc, src);
	if (c)
		__sync_fetch_and_add(c, 1);
	else
		bpf_map_update_elem(&lc, src, &one, BPF_NOEXIST);
}

/*
 * select_source picks the source of rule id and copies it to src; it returns
 * the source's index, or -1 if the rule has none. The rule's sources are
 * those present on the host (absent_sources = "skip"): the supervisor
 * installs a new generation when addresses come and go.
 */
static __always_inline int select_source(const struct vipa_instance *inst, const struct vipa_rule *r, __u32 id,
					 struct vipa_addr *src)
{
	struct vipa_source_key key = { .instance = inst->id, .rule = id };
	__u32 n = r->nsources;
	struct vipa_addr *a;

	if (n == 0)
		return -1;
	switch (r->policy) {
	case VIPA_POLICY_RANDOM:
		if (n > 1)
			key.index = bpf_get_prandom_u32() % n;
		break;
	case VIPA_POLICY_RR:
		if (n > 1)
			key.index = next_rr(r) % n;
		break;
	case VIPA_POLICY_LRR:
		if (n > 1)
			key.index = next_lrr(inst, id) % n;
		break;
	case VIPA_POLICY_LC:
		key.index = pick_lc(inst, r, id);
		break;
	}
	a = bpf_map_lookup_elem(&sources, &key);
	if (!a)
		return -1;
	__builtin_memcpy(src, a, sizeof(*src));
	if (r->policy == VIPA_POLICY_LC)
		count_lc(src);
	return key.index;
}

static __always_inline __u32 v4_of(const struct vipa_addr *a)
{
	return ((const __u32 *)a->b)[3];
}

/* bpf_bind() to src, port 0: the address alone, as IP_BIND_ADDRESS_NO_PORT. */
static __always_inline int bind_source(struct bpf_sock_addr *ctx, const struct vipa_addr *src, int v6)
{
	if (!v6) {
		struct sockaddr_in sin = {
			.sin_family = VIPA_AF_INET,
			.sin_addr.s_addr = v4_of(src),
		};

		return bpf_bind(ctx, (struct sockaddr *)&sin, sizeof(sin));
	} else {
		struct sockaddr_in6 sin6 = { .sin6_family = VIPA_AF_INET6 };

		__builtin_memcpy(&sin6.sin6_addr, src->b, sizeof(src->b));
		return bpf_bind(ctx, (struct sockaddr *)&sin6, sizeof(sin6));
	}
}

/* The trie key of a destination: an IPv4-mapped one is looked up as IPv4. */
static __always_inline void dst_key(const struct bpf_sock_addr *ctx, int v6, struct vipa_key *key)
{
	__u32 w[4];

	if (!v6) {
		w[0] = ctx->user_ip4;
		key->kind = VIPA_KIND_CONNECT4;
		key->prefixlen = VIPA_KIND_BITS + 32;
		__builtin_memcpy(key->addr, w, sizeof(w[0]));
		return;
	}
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
		key->kind = VIPA_KIND_CONNECT4;
		key->prefixlen = VIPA_KIND_BITS + 32;
		__builtin_memcpy(key->addr, &w[3], sizeof(w[3]));
		return;
	}
	key->kind = VIPA_KIND_CONNECT6;
	key->prefixlen = VIPA_KIND_BITS + 128;
	__builtin_memcpy(key->addr, w, sizeof(w));
}

/*
 * The rule for a connect or send from this socket to ctx's destination, or
 * NULL after counting why there is none.
 */
static __always_inline struct vipa_rule *connect_rule(struct vipa_instance *inst, struct bpf_sock_addr *ctx,
						      int v6, __u32 *id)
{
	struct vipa_key key = {};
	struct vipa_chain *chain;
	struct vipa_rule *r;

	dst_key(ctx, v6, &key);
	chain = lookup_chain(inst, &key);
	if (!chain) {
		leave(inst, VIPA_REASON_NO_RULE);
		return NULL;
	}
	r = match(inst, chain, sock_proto(ctx), bpf_ntohs(ctx->user_port), id);
	if (!r) {
		leave(inst, VIPA_REASON_NO_RULE);
		return NULL;
	}
	if (r->policy == VIPA_POLICY_KERNEL) {
		leave(inst, VIPA_REASON_POLICY_KERNEL);
		return NULL;
	}
	return r;
}

static __always_inline int no_source(struct vipa_instance *inst, const struct vipa_rule *r)
{
	if (r->on_error == VIPA_ON_ERROR_FAIL)
		return fail(inst);
	return leave(inst, VIPA_REASON_NO_SOURCE_PRESENT);
}

static __always_inline int do_connect(struct bpf_sock_addr *ctx, int v6)
{
	struct vipa_instance *inst = instance();
	struct vipa_addr src;
	struct vipa_rule *r;
	__u32 id = 0;
	int index;

	count_call(inst, VIPA_OP_CONNECT);
	if (sock_bound(ctx, v6, 1))
		return leave(inst, VIPA_REASON_BOUND_BY_PROGRAM);
	r = connect_rule(inst, ctx, v6, &id);
	if (!r)
		return VIPA_ALLOW;
	index = select_source(inst, r, id, &src);
	if (index < 0)
		return no_source(inst, r);
	if (bind_source(ctx, &src, v6) != 0) {
		if (r->on_error == VIPA_ON_ERROR_FAIL)
			return fail(inst);
		return leave(inst, VIPA_REASON_BIND_FAILED);
	}
	count_bound(inst, id, index);
	return VIPA_ALLOW;
}

SEC("cgroup/connect4")
int vipa_connect4(struct bpf_sock_addr *ctx)
{
	return do_connect(ctx, 0);
}

SEC("cgroup/connect6")
int vipa_connect6(struct bpf_sock_addr *ctx)
{
	return do_connect(ctx, 1);
}

/*
 * ADDR_IS_SET is whether the context's IPv4 field f4 or IPv6 field f6 holds
 * an address other than the wildcard; SET_ADDR writes src there.
 */
#define ADDR_IS_SET(ctx, v6, f4, f6)						\
	(!(v6) ? (ctx)->f4 != 0 :						\
		 ((ctx)->f6[0] | (ctx)->f6[1] | (ctx)->f6[2] | (ctx)->f6[3]) != 0)

/*
 * SET_ADDR writes src into the context's IPv4 field f4 or IPv6 field f6.
 * A macro, not a function: the verifier takes stores to the context only
 * at offsets it can see, not through a pointer to a field.
 */
#define SET_ADDR(ctx, v6, src, f4, f6)						\
	do {									\
		if (!(v6)) {							\
			(ctx)->f4 = v4_of(src);					\
		} else {							\
			const __u32 *w_ = (const __u32 *)(src)->b;		\
										\
			(ctx)->f6[0] = w_[0];					\
			(ctx)->f6[1] = w_[1];					\
			(ctx)->f6[2] = w_[2];					\
			(ctx)->f6[3] = w_[3];					\
		}								\
	} while (0)

/*
 * An unconnected datagram from a socket not bound to an address gets its
 * source per datagram, unless IP_PKTINFO set one (msg_src_ip4/6 non-zero).
 * The port is no sign: the kernel binds one (autobind) before this hook.
 */
static __always_inline int do_sendmsg(struct bpf_sock_addr *ctx, int v6)
{
	struct vipa_instance *inst = instance();
	struct vipa_addr src;
	struct vipa_rule *r;
	__u32 id = 0;
	int index;

	count_call(inst, VIPA_OP_SENDMSG);
	if (sock_bound(ctx, v6, 0))
		return leave(inst, VIPA_REASON_BOUND_BY_PROGRAM);
	if (ADDR_IS_SET(ctx, v6, msg_src_ip4, msg_src_ip6))
		return leave(inst, VIPA_REASON_PKTINFO);
	r = connect_rule(inst, ctx, v6, &id);
	if (!r)
		return VIPA_ALLOW;
	index = select_source(inst, r, id, &src);
	if (index < 0)
		return no_source(inst, r);
	SET_ADDR(ctx, v6, &src, msg_src_ip4, msg_src_ip6);
	count_bound(inst, id, index);
	return VIPA_ALLOW;
}

SEC("cgroup/sendmsg4")
int vipa_sendmsg4(struct bpf_sock_addr *ctx)
{
	return do_sendmsg(ctx, 0);
}

SEC("cgroup/sendmsg6")
int vipa_sendmsg6(struct bpf_sock_addr *ctx)
{
	return do_sendmsg(ctx, 1);
}

/*
 * A bind to the wildcard address moves to the source of the first [[bind]]
 * rule whose ports contain the port. The kernel checks the port's privilege
 * after this program, against the caller.
 */
static __always_inline int do_bind(struct bpf_sock_addr *ctx, int v6)
{
	struct vipa_key key = { .prefixlen = VIPA_KIND_BITS };
	struct vipa_instance *inst = instance();
	struct vipa_chain *chain;
	struct vipa_addr src;
	struct vipa_rule *r;
	__u32 id = 0;
	int index;

	count_call(inst, VIPA_OP_BIND);
	if (ADDR_IS_SET(ctx, v6, user_ip4, user_ip6))
		return leave(inst, VIPA_REASON_NOT_WILDCARD);
	if (sock_proto(ctx) == VIPA_PROTO_ANY)
		return leave(inst, VIPA_REASON_NOT_TCP_UDP);
	key.kind = v6 ? VIPA_KIND_BIND6 : VIPA_KIND_BIND4;
	chain = lookup_chain(inst, &key);
	if (!chain)
		return leave(inst, VIPA_REASON_NO_RULE);
	r = match(inst, chain, VIPA_PROTO_ANY, bpf_ntohs(ctx->user_port), &id);
	if (!r)
		return leave(inst, VIPA_REASON_NO_RULE);
	if (r->policy == VIPA_POLICY_KERNEL)
		return leave(inst, VIPA_REASON_POLICY_KERNEL);
	index = select_source(inst, r, id, &src);
	if (index < 0)
		return no_source(inst, r);
	SET_ADDR(ctx, v6, &src, user_ip4, user_ip6);
	count_bound(inst, id, index);
	return VIPA_ALLOW;
}

SEC("cgroup/bind4")
int vipa_bind4(struct bpf_sock_addr *ctx)
{
	return do_bind(ctx, 0);
}

SEC("cgroup/bind6")
int vipa_bind6(struct bpf_sock_addr *ctx)
{
	return do_bind(ctx, 1);
}
