//go:build linux

package notify

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		release string
		want    bool
	}{
		{"5.9.0", true},
		{"5.10.0-28-amd64", true},
		{"6.18.44-fc-v657", true},
		{"5.8.18", false},
		{"4.19.0", false},
		{"5.9", true},
		{"5.9-rc1", true},
		{"5.8+", false},
		{"10.0.0", true},
		{"garbage", false},
	}
	for _, tt := range tests {
		if got := versionAtLeast(tt.release, "5.9"); got != tt.want {
			t.Errorf("versionAtLeast(%q, 5.9) = %v, want %v", tt.release, got, tt.want)
		}
	}
}

func TestFeatureError(t *testing.T) {
	err := error(&FeatureError{Feature: "pidfd_getfd", MinVersion: "5.9", Err: unix.ENOSYS})
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, unix.ENOSYS) {
		t.Errorf("%v: want both ErrNotSupported and ENOSYS in the chain", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "pidfd_getfd") || !strings.Contains(msg, "Linux >= 5.9") {
		t.Errorf("message %q must name the feature and the version", msg)
	}
	if !errors.Is(&FeatureError{Feature: "x", MinVersion: "1"}, ErrNotSupported) {
		t.Error("a FeatureError without a kernel answer must still be ErrNotSupported")
	}
}

// TestCheckKernel runs on the machine's kernel, which the tests require to
// be supported: a failure here means vipa-exec would refuse to run.
func TestCheckKernel(t *testing.T) {
	if err := CheckKernel(); err != nil {
		t.Fatal(err)
	}
}
