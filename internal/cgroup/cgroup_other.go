//go:build !linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
)

var errUnsupported = fmt.Errorf("cgroup v2: %w", errors.ErrUnsupported)

// Mountpoint is Linux-only.
func Mountpoint() (string, error) { return "", errUnsupported }

// Own is Linux-only.
func Own(pid int) (string, error) { return "", errUnsupported }

// Group is Linux-only.
type Group struct{}

// Create is Linux-only.
func Create(parent string, pid int) (*Group, error) { return nil, errUnsupported }

// Path is Linux-only.
func (g *Group) Path() string { return "" }

// FD is Linux-only.
func (g *Group) FD() int { return -1 }

// Enter is Linux-only.
func (g *Group) Enter(pid int) error { return errUnsupported }

// Populated is Linux-only.
func (g *Group) Populated() (bool, error) { return false, errUnsupported }

// WaitEmpty is Linux-only.
func (g *Group) WaitEmpty(ctx context.Context) error { return errUnsupported }

// Remove is Linux-only.
func (g *Group) Remove() error { return errUnsupported }

// Close is Linux-only.
func (g *Group) Close() error { return nil }

// Alive is Linux-only.
func Alive(pid int) bool { return false }

// CanCreate is Linux-only.
func CanCreate(parent string) error { return errUnsupported }
