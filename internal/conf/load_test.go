package conf

import (
	"os"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// Load reads and validates the policy file at path: [Parse] on a file, for
// the tests (vipa-exec reads the file through internal/trusted). A file that
// cannot be read gives the error of os.ReadFile, anything else an [*Error].
func Load(path string) (*policy.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}
