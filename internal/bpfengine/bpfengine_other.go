//go:build !linux

package bpfengine

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// ErrUnavailable: the engine is Linux-only.
var ErrUnavailable = fmt.Errorf("bpf engine unavailable: %w", errors.ErrUnsupported)

// ErrPolicyUnsupported mirrors the Linux error.
var ErrPolicyUnsupported = errors.New("policy needs the seccomp engine")

// ErrUntrustedCache mirrors the Linux error.
var ErrUntrustedCache = errors.New("untrusted bpf cache directory")

// CachedMaps mirrors the Linux list: no cache here.
var CachedMaps []string

// Engine mirrors the Linux type; it has no Snapshot, as package rewrite,
// whose Snapshot it returns, is Linux-only.
type Engine struct{}

func Supported() error                                   { return ErrUnavailable }
func Unsupported(*policy.Policy) error                   { return nil }
func Load(*policy.Policy, *slog.Logger) (*Engine, error) { return nil, ErrUnavailable }
func (*Engine) Attach(int) error                         { return ErrUnavailable }
func (*Engine) Reload(*policy.Policy) error              { return ErrUnavailable }
func (*Engine) SetPresent(*policy.AddrSet) error         { return ErrUnavailable }
func (*Engine) SetSockets(map[netip.Addr]int) error      { return ErrUnavailable }
func (*Engine) Close() error                             { return nil }
func Entries(uint64) (int, error)                        { return 0, ErrUnavailable }
func RRCounters() (int, error)                           { return 0, ErrUnavailable }
func CacheDir() string                                   { return "" }
