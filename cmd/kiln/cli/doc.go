// Package cli holds kiln's cobra commands. Each command is a thin wrapper
// over a plain function; tests call Run in-process with buffers.
package cli
