// Package caps reads the effective capabilities of the calling thread, which
// decide whether the bpf engine may load and attach its cgroup programs:
// CAP_BPF and CAP_NET_ADMIN (Linux 5.8 split CAP_BPF from CAP_SYS_ADMIN), or
// CAP_SYS_ADMIN alone. CAP_NET_ADMIN alone is not enough.
//
// Capabilities belong to threads. vipa-exec changes its credentials only
// with calls that apply to every thread, so one thread's set is the
// process's.
package caps
