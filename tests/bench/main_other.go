//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The bench needs network namespaces and seccomp: there is nothing to
// measure elsewhere, but `go vet ./...` should still pass there.
func main() {
	fmt.Fprintln(os.Stderr, "bench: vipa-exec and its benchmark run on Linux only")
	os.Exit(1)
}
