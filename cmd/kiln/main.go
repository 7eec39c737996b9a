// Command kiln is a dbt-compatible SQL transformation framework with raw
// ingestion built in.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/kilnhq/kiln/cmd/kiln/cli"
)

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		// kiln's heap is mostly short-lived render garbage; collecting half
		// as often saves ~15% of a large compile for a bounded peak.
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
