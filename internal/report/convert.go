package report

import (
	"context"
	"io"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/supervisor"
)

// Convert is --convert: it prints the TOML equivalent of a src_vipa.conf
// file on stdout, and its warnings on stderr (they are in the output too, as
// comments).
func Convert(ctx context.Context, path string, stdout, stderr io.Writer) (int, error) {
	data, err := supervisor.ReadPolicyFile(path)
	if err != nil {
		return ExitUsage, err
	}
	out, warnings, err := conf.Convert(ctx, path, data, conf.Options{})
	if err != nil {
		return ExitUsage, err
	}
	PrintWarnings(stderr, warnings)
	if _, err := stdout.Write(out); err != nil {
		return ExitUsage, err
	}
	return 0, nil
}
