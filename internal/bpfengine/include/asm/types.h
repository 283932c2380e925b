/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The uapi headers include <asm/types.h>, which Debian keeps under the
 * host's multiarch directory, where clang -target bpfel does not look. Its
 * content is the same on every architecture the BPF object serves (amd64,
 * arm64): the generic one.
 */
#include <asm-generic/types.h>
