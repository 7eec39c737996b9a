package ingesttest

import (
	"context"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// MemTable is an in-memory ingest.Table for tests: Read emits Batches in
// order and returns State; Declared is what Columns returns.
type MemTable struct {
	Declared []adapters.Column
	Batches  []ingest.Batch
	State    ingest.State
	// Requests records every ReadRequest.
	Requests []ingest.ReadRequest
}

// Columns returns m.Declared.
func (m *MemTable) Columns(context.Context) ([]adapters.Column, error) { return m.Declared, nil }

// Read emits m.Batches.
func (m *MemTable) Read(ctx context.Context, req ingest.ReadRequest, emit func(ingest.Batch) error) (ingest.State, error) {
	m.Requests = append(m.Requests, req)
	for _, b := range m.Batches {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := emit(b); err != nil {
			return nil, err
		}
	}
	return m.State, nil
}

// StepTable serves Steps[step] as a MemTable, one row per batch (so the
// loader's batch handling is exercised).
func StepTable(step int) *MemTable {
	s := Steps[step]
	m := &MemTable{State: ingest.State{"step": float64(step)}}
	for _, r := range s.Rows {
		m.Batches = append(m.Batches, ingest.Batch{Columns: s.Columns, Rows: [][]any{r}})
	}
	return m
}
