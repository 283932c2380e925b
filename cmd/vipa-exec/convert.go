package main

import (
	"context"
	"io"

	"github.com/vipa-exec/vipa-exec/internal/conf"
)

// runConvert is --convert: it prints the TOML equivalent of a src_vipa.conf
// file on stdout, and its warnings on stderr (they are in the output too, as
// comments).
func runConvert(ctx context.Context, path string, stdout, stderr io.Writer) (int, error) {
	data, err := readPolicyFile(path)
	if err != nil {
		return exitUsage, err
	}
	out, warnings, err := conf.Convert(ctx, path, data, conf.Options{})
	if err != nil {
		return exitUsage, err
	}
	printWarnings(stderr, warnings)
	if _, err := stdout.Write(out); err != nil {
		return exitUsage, err
	}
	return 0, nil
}
