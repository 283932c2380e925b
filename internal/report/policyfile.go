package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/supervisor"
	"github.com/vipa-exec/vipa-exec/internal/trusted"
)

// Exit statuses of the maintenance verbs.
const (
	ExitWarnings = 1 // warnings, no matching rule, no supervisor
	ExitUsage    = 2 // errors: bad options, bad policy
)

const (
	defaultPolicy = "/etc/vipa-exec/policy.toml"
	legacyDefault = "/etc/src_vipa.conf" // src_vipa's own default
	policyEnv     = "VIPA_EXEC_POLICY"
	legacyEnv     = "SRC_VIPA_CONFIG_FILE" // src_vipa's own variable
)

// defaultPolicies are the policy files tried, in order, when neither -p nor
// the environment names one.
var defaultPolicies = []string{defaultPolicy, legacyDefault}

// findPolicy returns the policy file to read: -p, else $VIPA_EXEC_POLICY,
// else $SRC_VIPA_CONFIG_FILE, else the first of defaults that exists. A file
// named by -p or a variable is never skipped: if it is missing, that is the
// error. by says who named the file, for that error.
func findPolicy(flagPath string, getenv func(string) string, defaults []string) (path, by string, err error) {
	if flagPath != "" {
		return flagPath, "--policy", nil
	}
	for _, env := range []string{policyEnv, legacyEnv} {
		if p := getenv(env); p != "" {
			return p, "$" + env, nil
		}
	}
	for _, p := range defaults {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			return p, "default", nil
		}
	}
	return "", "", fmt.Errorf("no policy file: give one with -p, $%s or $%s, or create %s", policyEnv, legacyEnv, strings.Join(defaults, " or "))
}

// LoadPolicy finds the policy file (flagPath is -p's, if given), reads and
// checks it, resolving the host names of a src_vipa.conf file: what a
// launch, --check and --explain read.
func LoadPolicy(ctx context.Context, flagPath string) (path string, data []byte, res *conf.Result, err error) {
	path, by, err := findPolicy(flagPath, os.Getenv, defaultPolicies)
	if err != nil {
		return "", nil, nil, err
	}
	data, err = supervisor.ReadPolicyFile(path)
	if errors.Is(err, fs.ErrNotExist) && by != "default" {
		return "", nil, nil, fmt.Errorf("%s: policy file not found (named by %s)", path, by)
	}
	if te := (*trusted.Error)(nil); errors.As(err, &te) {
		return "", nil, nil, err // names the file already
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("policy file: %w", err)
	}
	res, err = conf.Read(ctx, path, data, conf.Options{})
	if err != nil {
		return "", nil, nil, err
	}
	return path, data, res, nil
}

// absPath is path made absolute, as the supervisor gets it: rr rules share
// their rotation between the instances of one policy file, named by its
// path, and a relative path would name the file only in one directory.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// PrintWarnings prints a policy file's warnings, one line each.
func PrintWarnings(w io.Writer, warnings []conf.Warning) {
	for _, x := range warnings {
		fmt.Fprintf(w, "vipa-exec: %s\n", x)
	}
}
