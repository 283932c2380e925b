//go:build linux

package notify

// abis are the ABIs of the running kernel.
var abis = abisARM64
