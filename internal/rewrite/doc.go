// Package rewrite decides what happens to one trapped bind(2) or connect(2):
// it decodes the socket address, asks the policy for a source, and binds a
// duplicate of the program's socket to it.
//
// # Invariants
//
//   - Decoding is a pure function over bytes (sockaddr.go) and builds anywhere.
//   - A socket the program bound itself is never touched; a connect is only
//     rewritten while getsockname shows the wildcard address and port 0. A
//     rule with policy "kernel" leaves the socket alone as well.
//   - The supervisor never does for a program what the program could not do:
//     a [[bind]] port below the namespace's ip_unprivileged_port_start needs
//     the program's own CAP_NET_BIND_SERVICE, else the call fails with EACCES.
//   - Anything the handler cannot read or decode runs unchanged; the kernel
//     then gives the program the answer it would have had without vipa-exec.
package rewrite
