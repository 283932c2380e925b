package conf

import (
	"errors"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

const optionsRule = "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources = [\"192.0.2.10\"]\n\n"

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		file string
		want policy.Options
	}{
		{name: "none", file: optionsRule},
		{name: "trap_sendmsg", file: optionsRule + "[options]\ntrap_sendmsg = true\n", want: policy.Options{TrapSendmsg: true}},
		{name: "allow_io_uring", file: optionsRule + "[options]\nallow_io_uring = true\n", want: policy.Options{AllowIOUring: true}},
		{name: "absent_sources use", file: optionsRule + "[options]\nabsent_sources = \"use\"\n", want: policy.Options{AbsentSources: policy.AbsentUse}},
		{name: "absent_sources skip", file: optionsRule + "[options]\nabsent_sources = \"skip\"\n", want: policy.Options{AbsentSources: policy.AbsentSkip}},
		{name: "engine auto", file: optionsRule + "[options]\nengine = \"auto\"\n", want: policy.Options{Engine: policy.EngineAuto}},
		{name: "engine bpf", file: optionsRule + "[options]\nengine = \"bpf\"\n", want: policy.Options{Engine: policy.EngineBPF}},
		{name: "engine seccomp", file: optionsRule + "[options]\nengine = \"seccomp\"\n", want: policy.Options{Engine: policy.EngineSeccomp}},
		{name: "both, before the rules", file: "[options]\ntrap_sendmsg = true\nallow_io_uring = false\n" + optionsRule,
			want: policy.Options{TrapSendmsg: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("policy.toml", []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(tt.want, p.Options()); d != "" {
				t.Errorf("options (-want +got):\n%s", d)
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		err  error
		msg  string
	}{
		{name: "unknown key", file: optionsRule + "[options]\ntrap_sendmesg = true\n", err: ErrUnknownKey,
			msg: `policy.toml:5: options.trap_sendmesg: unknown key; did you mean "trap_sendmsg"?`},
		{name: "unknown key far off", file: optionsRule + "[options]\nverbose = true\n", err: ErrUnknownKey,
			msg: `policy.toml:5: options.verbose: unknown key in [options] (valid: trap_sendmsg, allow_io_uring, defer_wildcard_binds, absent_sources, engine)`},
		{name: "absent_sources misspelt", file: optionsRule + "[options]\nabsent_sources = \"skipp\"\n", err: policy.ErrInvalidAbsentSources,
			msg: `policy.toml:5: options.absent_sources: invalid absent_sources "skipp" (valid: skip, use)`},
		{name: "absent_sources not a string", file: optionsRule + "[options]\nabsent_sources = true\n", err: ErrType,
			msg: `policy.toml:5: options.absent_sources: want a string, got a boolean`},
		{name: "engine misspelt", file: optionsRule + "[options]\nengine = \"bfp\"\n", err: policy.ErrInvalidEngine,
			msg: `policy.toml:5: options.engine: invalid engine "bfp"; did you mean "bpf"?`},
		{name: "engine unknown", file: optionsRule + "[options]\nengine = \"ebpf-jit\"\n", err: policy.ErrInvalidEngine,
			msg: `policy.toml:5: options.engine: invalid engine "ebpf-jit" (valid: auto, bpf, seccomp)`},
		{name: "engine not a string", file: optionsRule + "[options]\nengine = 1\n", err: ErrType,
			msg: `policy.toml:5: options.engine: want a string, one of auto, bpf, seccomp; got an integer`},
		{name: "engine key misspelt", file: optionsRule + "[options]\nengin = \"bpf\"\n", err: ErrUnknownKey,
			msg: `policy.toml:5: options.engin: unknown key; did you mean "engine"?`},
		{name: "not a boolean", file: optionsRule + "[options]\ntrap_sendmsg = \"yes\"\n", err: ErrType,
			msg: `policy.toml:5: options.trap_sendmsg: want true or false, got a string`},
		{name: "not a table", file: "options = 1\n" + optionsRule, err: ErrType,
			msg: `policy.toml:1: options: want an [options] table, got an integer`},
		{name: "misspelt table", file: optionsRule + "[option]\ntrap_sendmsg = true\n", err: ErrUnknownKey,
			msg: `policy.toml:5: option: unknown table; did you mean [options]?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("policy.toml", []byte(tt.file))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if d := diff(tt.msg, err.Error()); d != "" {
				t.Errorf("message (-want +got):\n%s", d)
			}
		})
	}
}
