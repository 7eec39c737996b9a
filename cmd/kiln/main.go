// Command kiln is a dbt-compatible SQL transformation framework with raw
// ingestion built in.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kilnhq/kiln/cmd/kiln/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
