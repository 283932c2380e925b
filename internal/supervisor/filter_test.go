package supervisor

import (
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// TestFilterOptions: what the filter traps follows the policy file.
func TestFilterOptions(t *testing.T) {
	const connect = "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources = [\"192.0.2.10\"]\n"
	const bind = "[[bind]]\nports = \"80\"\nsources = [\"192.0.2.10\"]\n"
	tests := []struct {
		name, file string
		want       notify.FilterOptions
	}{
		// A connect rule that binds needs bind trapped for the sockets bound
		// to 0.0.0.0:0 first (defer_wildcard_binds), unless the option is off.
		{"connect rule for every protocol", connect, notify.FilterOptions{Sendto: notify.SendtoAll}},
		{"wildcard binds kept", "[options]\ndefer_wildcard_binds = false\n" + connect, notify.FilterOptions{SkipBind: true, Sendto: notify.SendtoAll}},
		{"tcp only", connect + "protocol = \"tcp\"\n", notify.FilterOptions{Sendto: notify.SendtoFastOpen}},
		{"udp only", connect + "protocol = \"udp\"\n", notify.FilterOptions{Sendto: notify.SendtoAll}},
		{"bind only", bind, notify.FilterOptions{Sendto: notify.SendtoNone}},
		{"kernel rule only", "[[connect]]\ndestination = \"10.0.0.0/8\"\npolicy = \"kernel\"\n", notify.FilterOptions{SkipBind: true, Sendto: notify.SendtoNone}},
		{"both, with [options]", connect + bind + "[options]\ntrap_sendmsg = true\nallow_io_uring = true\n",
			notify.FilterOptions{TrapSendmsg: true, AllowIOUring: true, Sendto: notify.SendtoAll}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol, err := conf.Parse("policy.toml", []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := FilterOptions(pol); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
