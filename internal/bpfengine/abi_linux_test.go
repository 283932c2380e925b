//go:build linux

package bpfengine

import (
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

// TestReasonsAgree checks that the C enum of reasons has the values of
// internal/rewrite's Reason, whose names the counters are reported under.
func TestReasonsAgree(t *testing.T) {
	for _, tc := range []struct {
		c    vipaVipaReason
		want rewrite.Reason
	}{
		{vipaVipaReasonVIPA_REASON_NONE, rewrite.ReasonNone},
		{vipaVipaReasonVIPA_REASON_BOUND_BY_PROGRAM, rewrite.ReasonBoundByProgram},
		{vipaVipaReasonVIPA_REASON_NO_RULE, rewrite.ReasonNoRule},
		{vipaVipaReasonVIPA_REASON_POLICY_KERNEL, rewrite.ReasonPolicyKernel},
		{vipaVipaReasonVIPA_REASON_NOT_WILDCARD, rewrite.ReasonNotWildcard},
		{vipaVipaReasonVIPA_REASON_NOT_TCP_UDP, rewrite.ReasonNotTCPUDP},
		{vipaVipaReasonVIPA_REASON_BIND_FAILED, rewrite.ReasonBindFailed},
		{vipaVipaReasonVIPA_REASON_NO_SOURCE_PRESENT, rewrite.ReasonNoSourcePresent},
		{vipaVipaReasonVIPA_REASON_PKTINFO, rewrite.ReasonPktinfo},
		{vipaVipaReasonVIPA_NUM_REASONS, rewrite.NumReasons},
	} {
		if uint32(tc.c) != uint32(tc.want) {
			t.Errorf("C reason %d, want %d (%s)", tc.c, tc.want, tc.want)
		}
	}
	if int(vipaVipaOpVIPA_NUM_OPS) != len(vipaVipaStats{}.Calls) || notify.OpSendmsg.String() != "sendmsg" {
		t.Errorf("ops: %d calls counted", len(vipaVipaStats{}.Calls))
	}
}
