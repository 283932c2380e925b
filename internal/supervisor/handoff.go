package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// policyHandoff is what the launcher hands the supervisor as
// launch.Options.PolicyData (both sides are here, so that they agree): the policy file's bytes as the launcher
// validated them and, for a src_vipa.conf file, what each of its host
// names resolved to. The supervisor resolves nothing at start: a DNS
// answer that changed in between would put in force a source the launcher
// never checked. (On a reload the supervisor resolves, once, and checks
// what it got itself.)
type policyHandoff struct {
	Data  []byte                  `json:"data"`
	Hosts map[string][]netip.Addr `json:"hosts,omitempty"`
}

// EncodeHandoff is the launcher's side of the hand-off: the file's data,
// and the host names conf.Read resolved in res.
func EncodeHandoff(data []byte, res *conf.Result) ([]byte, error) {
	return json.Marshal(policyHandoff{Data: data, Hosts: res.Hosts})
}

// readHandoff returns the policy the launcher handed over for the file at
// path, and the file's bytes, with no name looked up.
func readHandoff(path string, b []byte) (data []byte, pol *policy.Policy, err error) {
	var h policyHandoff
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, nil, fmt.Errorf("policy from the launcher: %w", err)
	}
	res, err := conf.Read(context.Background(), path, h.Data, conf.Options{Resolver: conf.StaticResolver(h.Hosts)})
	if err != nil {
		return nil, nil, err
	}
	return h.Data, res.Policy, nil
}
