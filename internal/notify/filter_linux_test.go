//go:build linux

package notify

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// encodeProgram is the inverse of NewFilter's decoding.
func encodeProgram(prog []unix.SockFilter) []byte {
	var b []byte
	for _, in := range prog {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b
}

func TestNewFilter(t *testing.T) {
	ret := unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}
	jump := unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 2, K: 0xc000003e}
	tests := []struct {
		name string
		raw  []byte
		want []unix.SockFilter // nil: refused
	}{
		{"one instruction", encodeProgram([]unix.SockFilter{ret}), []unix.SockFilter{ret}},
		{"jump targets and 32-bit constant", encodeProgram([]unix.SockFilter{jump, ret, ret, ret}), []unix.SockFilter{jump, ret, ret, ret}},
		{"longest", encodeProgram(make([]unix.SockFilter, unix.BPF_MAXINSNS)), make([]unix.SockFilter, unix.BPF_MAXINSNS)},
		{"empty", nil, nil},
		{"half an instruction", encodeProgram([]unix.SockFilter{ret})[:4], nil},
		{"a byte over", append(encodeProgram([]unix.SockFilter{ret}), 0), nil},
		{"longer than the kernel takes", encodeProgram(make([]unix.SockFilter, unix.BPF_MAXINSNS+1)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.raw)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("NewFilter took %d bytes", len(tt.raw))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.prog, tt.want) {
				t.Errorf("got %+v, want %+v", f.prog, tt.want)
			}
		})
	}
}

// FuzzNewFilter: whatever NewFilter takes encodes back to the same bytes.
func FuzzNewFilter(f *testing.F) {
	f.Add(encodeProgram([]unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, raw []byte) {
		filter, err := NewFilter(raw)
		if err != nil {
			return
		}
		if got := encodeProgram(filter.prog); !bytes.Equal(got, raw) {
			t.Errorf("%x decodes to %+v, which encodes to %x", raw, filter.prog, got)
		}
	})
}
