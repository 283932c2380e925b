// Package rewrite decides what happens to one trapped bind(2) or connect(2):
// it decodes the socket address, asks the policy for a source, and binds a
// duplicate of the program's socket to it (connect, sendto, sendmsg) or
// writes it into the program's own address argument (bind).
//
// # Invariants
//
//   - Decoding is a pure function over bytes (sockaddr.go) and builds anywhere.
//   - A socket the program bound itself is never touched; a connect is only
//     rewritten while getsockname shows the wildcard address and port 0. A
//     rule with policy "kernel" leaves the socket alone as well.
//   - The supervisor never does for a program what the program could not do:
//     a [[bind]] rule rewrites the program's address argument and the kernel
//     binds in the program's context (credentials, user namespace, LSMs,
//     Landlock); the supervisor itself binds only to port 0.
//   - Anything the handler cannot read or decode runs unchanged; the kernel
//     then gives the program the answer it would have had without vipa-exec.
package rewrite
