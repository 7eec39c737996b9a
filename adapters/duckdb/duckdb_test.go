package duckdb_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
)

func open(t *testing.T) adapters.Warehouse {
	t.Helper()
	wh, err := duckdb.Open(context.Background(), adaptertest.DuckDB(t))
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

func TestConformance(t *testing.T) {
	adaptertest.Run(t, open)
}

func TestOpenCreatesDirAndNamesCatalog(t *testing.T) {
	p := adaptertest.DuckDB(t)
	p.Path = filepath.Join(t.TempDir(), "nested", "dir", "warehouse.duckdb")
	p.Settings = map[string]string{"threads": "2", "memory_limit": "256MB"}
	wh, err := duckdb.Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	if _, err := os.Stat(p.Path); err != nil {
		t.Errorf("database file: %v", err)
	}
	if got := wh.Dialect().DefaultDatabase(); got != "warehouse" {
		t.Errorf("DefaultDatabase = %q, want warehouse", got)
	}
	if got := wh.Dialect().Render(adapters.Relation{Schema: "main", Identifier: "m"}); got != `"warehouse"."main"."m"` {
		t.Errorf("Render = %s", got)
	}
	rows, err := wh.Query(context.Background(), "select current_setting('threads')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatal(rows.Err())
	}
	vals, err := rows.Values()
	if err != nil || vals[0] != int64(2) {
		t.Errorf("threads setting = %#v, %v", vals, err)
	}
}

func TestOpenBadSettingAndExtension(t *testing.T) {
	p := adaptertest.DuckDB(t)
	p.Settings = map[string]string{"no_such_setting_xyz": "1"}
	if _, err := duckdb.Open(context.Background(), p); err == nil || !strings.Contains(err.Error(), "no_such_setting_xyz") {
		t.Errorf("bad setting error = %v", err)
	}
	p = adaptertest.DuckDB(t)
	p.Extensions = []string{"no_such_extension_xyz"}
	if _, err := duckdb.Open(context.Background(), p); err == nil || !strings.Contains(err.Error(), "no_such_extension_xyz") {
		t.Errorf("bad extension error = %v", err)
	}
}
