package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEngine(t *testing.T) {
	for _, name := range EngineNames() {
		e, err := ParseEngine(name)
		if err != nil || e.String() != name {
			t.Errorf("ParseEngine(%q) = %v, %v", name, e, err)
		}
	}
	for _, bad := range []string{"", "BPF", "ebpf", " bpf", "auto\n"} {
		if _, err := ParseEngine(bad); !errors.Is(err, ErrInvalidEngine) {
			t.Errorf("ParseEngine(%q): %v, want ErrInvalidEngine", bad, err)
		}
	}
	if s := Engine(7).String(); s != "Engine(7)" {
		t.Errorf("Engine(7).String() = %q", s)
	}
}

func TestChooseEngine(t *testing.T) {
	errCaps := errors.New("CAP_BPF missing")
	errRule := errors.New("[[interface]] rules at p.toml:4 need it")
	tests := []struct {
		name       string
		flag       string
		file       Engine
		bpf, needs error
		want       Engine
		reason     string
		err        []error // all wrapped
		msg        string
	}{
		{name: "auto, bpf serves", want: EngineBPF, reason: "engine bpf: the kernel's hooks serve this policy here"},
		{name: "auto, no capability", bpf: errCaps, want: EngineSeccomp, reason: "engine seccomp: CAP_BPF missing"},
		{name: "auto, policy needs seccomp", needs: errRule, want: EngineSeccomp,
			reason: "engine seccomp: [[interface]] rules at p.toml:4 need it"},
		{name: "auto, both", bpf: errCaps, needs: errRule, want: EngineSeccomp, reason: "engine seccomp: CAP_BPF missing"},
		{name: "file seccomp", file: EngineSeccomp, want: EngineSeccomp,
			reason: "engine seccomp: asked for by the policy file's [options] engine"},
		{name: "file bpf", file: EngineBPF, want: EngineBPF, reason: "engine bpf: asked for by the policy file's [options] engine"},
		{name: "file bpf, no capability", file: EngineBPF, bpf: errCaps, err: []error{ErrEngineUnavailable, errCaps},
			msg: "engine bpf cannot serve (asked for by the policy file's [options] engine): CAP_BPF missing"},
		{name: "flag bpf, policy needs seccomp", flag: "bpf", needs: errRule, err: []error{ErrEngineUnavailable, errRule},
			msg: "engine bpf cannot serve (asked for by --engine): [[interface]] rules at p.toml:4 need it"},
		{name: "flag bpf, both", flag: "bpf", bpf: errCaps, needs: errRule, err: []error{ErrEngineUnavailable, errCaps, errRule},
			msg: "engine bpf cannot serve (asked for by --engine): CAP_BPF missing; [[interface]] rules at p.toml:4 need it"},
		{name: "flag overrides file", flag: "seccomp", file: EngineBPF, want: EngineSeccomp, reason: "engine seccomp: asked for by --engine"},
		{name: "flag auto overrides file", flag: "auto", file: EngineSeccomp, want: EngineBPF,
			reason: "engine bpf: the kernel's hooks serve this policy here"},
		{name: "flag bpf over file seccomp", flag: "bpf", file: EngineSeccomp, want: EngineBPF, reason: "engine bpf: asked for by --engine"},
		{name: "flag invalid", flag: "bfp", err: []error{ErrInvalidEngine},
			msg: `--engine: invalid engine "bfp" (valid: auto, bpf, seccomp)`},
		{name: "file out of range", file: Engine(9), err: []error{ErrInvalidEngine}, msg: "invalid engine Engine(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := 0
			check := func(err error) func() error { return func() error { checks++; return err } }
			e, reason, err := ChooseEngine(tt.flag, tt.file, check(tt.bpf), check(tt.needs))
			if strings.HasPrefix(reason, "engine seccomp: asked for") && checks != 0 {
				t.Errorf("seccomp asked for, yet %d checks of bpf ran", checks)
			}
			if tt.err == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				for _, want := range tt.err {
					if !errors.Is(err, want) {
						t.Errorf("error %v does not wrap %v", err, want)
					}
				}
				if err == nil || err.Error() != tt.msg {
					t.Errorf("error %v, want %q", err, tt.msg)
				}
			}
			if e != tt.want || reason != tt.reason {
				t.Errorf("ChooseEngine = %v, %q; want %v, %q", e, reason, tt.want, tt.reason)
			}
		})
	}
}
