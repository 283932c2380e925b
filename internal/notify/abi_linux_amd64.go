//go:build linux

package notify

// ABIs are the ABIs of the running kernel.
var ABIs = ABIsAMD64
