package supervisor

import (
	"os"

	"github.com/vipa-exec/vipa-exec/internal/bpfengine"
	"github.com/vipa-exec/vipa-exec/internal/caps"
	"github.com/vipa-exec/vipa-exec/internal/cgroup"
	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// ChooseEngine is policy.ChooseEngine for p run by this process, flag being
// --engine ("" when not given). reason is the one line to log at info.
//
// The bpf engine needs CAP_BPF and CAP_NET_ADMIN (or CAP_SYS_ADMIN), a
// cgroup v2 hierarchy in which this process may make a group and move into
// it, and a policy it can serve. With trial the programs are also loaded on
// trial (bpfengine.Supported: some milliseconds), as --check and --explain
// do; a launcher skips that, since the supervisor's load falls back to
// seccomp under auto when it fails, and is the error under --engine bpf.
func ChooseEngine(flag string, p *policy.Policy, trial bool) (e policy.Engine, reason string, err error) {
	return policy.ChooseEngine(flag, p.Options().Engine,
		func() error { return bpfUsable(trial) },
		func() error { return bpfengine.Unsupported(p) })
}

// bpfUsable is nil when this process can run the bpf engine, else why not.
func bpfUsable(trial bool) error {
	if err := caps.BPF(); err != nil {
		return err
	}
	parent, err := cgroup.Own(os.Getpid())
	if err != nil {
		return err
	}
	if err := cgroup.CanCreate(parent); err != nil {
		return err
	}
	if trial {
		return bpfengine.Supported()
	}
	return nil
}
