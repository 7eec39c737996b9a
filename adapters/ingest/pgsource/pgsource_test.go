package pgsource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters/ingest"
)

const postgresURLEnv = "KILN_TEST_POSTGRES_URL"

// sourceDB creates a database kiln_src_<random> on the test server, runs
// setup in it and returns its URL; the database is dropped WITH (FORCE)
// when the test ends. Without KILN_TEST_POSTGRES_URL the test skips, or
// fails when CI is set.
func sourceDB(t testing.TB, setup ...string) string {
	t.Helper()
	raw := os.Getenv(postgresURLEnv)
	if raw == "" {
		msg := postgresURLEnv + " is not set; set it to e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run the postgres connector's tests"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "kiln_src_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, raw)
	if err != nil {
		t.Fatalf("connecting to %s: %v", postgresURLEnv, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "create database "+name); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, raw)
		if err != nil {
			t.Errorf("connecting to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parsing %s: %v", postgresURLEnv, err)
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connecting to %s: %v", name, err)
	}
	defer conn.Close(ctx)
	for _, sql := range setup {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("setup %q: %v", sql, err)
		}
	}
	return u.String()
}

// config builds an ingest.Config whose positions name a fake YAML file.
func config(values map[string]any) ingest.Config {
	return ingest.Config{Values: values, Pos: func(key string) string {
		if key == "" {
			return "models/sources.yml:3:5"
		}
		return "models/sources.yml:4:7"
	}}
}

// open opens the source at url and closes it when the test ends.
func open(t testing.TB, url string, extra ...any) ingest.Source {
	t.Helper()
	values := map[string]any{"connector": "postgres", "connection": url}
	for i := 0; i+1 < len(extra); i += 2 {
		values[extra[i].(string)] = extra[i+1]
	}
	src, err := Connector().Open(context.Background(), config(values))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return src
}

// table prepares one table of src from key/value settings.
func table(t testing.TB, src ingest.Source, kv ...any) ingest.Table {
	t.Helper()
	tbl, err := tableErr(src, kv...)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	return tbl
}

func tableErr(src ingest.Source, kv ...any) (ingest.Table, error) {
	values := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		values[kv[i].(string)] = kv[i+1]
	}
	return src.Table(context.Background(), config(values))
}

// readAll reads tbl with req and returns its rows and the columns of the
// first batch; every batch must have the same columns and ≤ 10k rows.
func readAll(t testing.TB, tbl ingest.Table, req ingest.ReadRequest) ([]string, [][]any) {
	t.Helper()
	var cols []string
	var rows [][]any
	_, err := tbl.Read(context.Background(), req, func(b ingest.Batch) error {
		if len(b.Rows) == 0 || len(b.Rows) > maxBatchRows {
			t.Errorf("batch of %d rows", len(b.Rows))
		}
		if cols == nil {
			cols = b.Columns
		}
		rows = append(rows, b.Rows...)
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return cols, rows
}
