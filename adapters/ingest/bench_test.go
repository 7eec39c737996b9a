package ingest_test

// Throughput benchmarks of raw ingestion into Postgres. They need a server:
// set KILN_TEST_POSTGRES_URL (e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); without it
// they are skipped. See docs/benchmarks.md ("Raw ingest throughput") for the
// psql baselines they are compared with.
//
//	KILN_BENCH_ROWS=10000000 go test -run XXX -bench BenchmarkPostgresToPostgres -benchtime 1x ./adapters/ingest/
//	go test -run XXX -bench BenchmarkCSVToPostgres -benchtime 3x ./adapters/ingest/

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/files"
	"github.com/kilnhq/kiln/adapters/ingest/pgsource"
	"github.com/kilnhq/kiln/adapters/postgres"
)

// benchRows is KILN_BENCH_ROWS, or def.
func benchRows(b *testing.B, def int) int {
	b.Helper()
	s := os.Getenv("KILN_BENCH_ROWS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("KILN_BENCH_ROWS=%q: want a positive integer", s)
	}
	return n
}

// benchSourceDB creates a database kiln_bsrc_<random> holding public.narrow
// with n rows (id bigint, ts timestamp, n int, s text of ~10 characters),
// drops it when the benchmark ends and returns its URL.
func benchSourceDB(b *testing.B, n int) string {
	b.Helper()
	raw := os.Getenv(adaptertest.PostgresURLEnv)
	if raw == "" {
		b.Skip(adaptertest.PostgresURLEnv + " is not set")
	}
	rb := make([]byte, 6)
	if _, err := rand.Read(rb); err != nil {
		b.Fatal(err)
	}
	name := "kiln_bsrc_" + hex.EncodeToString(rb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, raw)
	if err != nil {
		b.Fatalf("connecting to %s: %v", adaptertest.PostgresURLEnv, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "create database "+name); err != nil {
		b.Fatalf("creating %s: %v", name, err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, raw)
		if err != nil {
			b.Errorf("connecting to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			b.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		b.Fatalf("connecting to %s: %v", name, err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		`create table public.narrow (id bigint, ts timestamp, n int, s text)`,
		fmt.Sprintf(`insert into public.narrow
			select g, timestamp '2024-01-01' + g * interval '1 second', (g %% 100000)::int, 'name ' || lpad((g %% 100000)::text, 5, '0')
			from generate_series(1, %d) g`, n),
		`vacuum analyze public.narrow`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	return u.String()
}

// benchTarget opens a fresh target database (dropped when the benchmark ends).
func benchTarget(b *testing.B) adapters.Warehouse {
	b.Helper()
	wh, err := postgres.Open(context.Background(), adaptertest.Postgres(b))
	if err != nil {
		b.Fatalf("opening postgres: %v", err)
	}
	b.Cleanup(func() { _ = wh.Close() })
	return wh
}

func benchConfig(values map[string]any) ingest.Config {
	return ingest.Config{Values: values, Pos: func(string) string { return "bench" }}
}

// benchLoad runs one replace load per iteration and reports rows/s.
func benchLoad(b *testing.B, wh adapters.Warehouse, tbl ingest.Table, rows int) {
	b.Helper()
	ctx := context.Background()
	dest := adapters.Relation{Database: wh.Dialect().DefaultDatabase(), Schema: "raw", Identifier: "narrow"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := ingest.Load(ctx, wh, dest, tbl, ingest.LoadOptions{Mode: ingest.ModeReplace})
		if err != nil {
			b.Fatal(err)
		}
		if res.Inserted != int64(rows) {
			b.Fatalf("inserted %d rows, want %d", res.Inserted, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPostgresToPostgres loads a narrow table (KILN_BENCH_ROWS rows,
// default 1M) from a source database into a target database, replace mode.
// Compare with
//
//	psql "$SRC" -c "COPY (select * from narrow) TO STDOUT" | psql "$DST" -c "COPY narrow FROM STDIN"
func BenchmarkPostgresToPostgres(b *testing.B) {
	tbl, rows := benchPostgresTable(b)
	benchLoad(b, benchTarget(b), tbl, rows)
}

// BenchmarkPostgresToDuckDB loads the narrow source table into an
// embedded DuckDB file, replace mode.
func BenchmarkPostgresToDuckDB(b *testing.B) {
	tbl, rows := benchPostgresTable(b)
	benchLoad(b, benchDuckDB(b), tbl, rows)
}

// BenchmarkCSVToPostgres loads a 1M-row CSV file (id,ts,n,s with a header;
// KILN_BENCH_CSV_ROWS overrides the count) into Postgres, replace mode.
// Compare with psql -c "\copy narrow from 'narrow.csv' csv header".
func BenchmarkCSVToPostgres(b *testing.B) {
	if os.Getenv(adaptertest.PostgresURLEnv) == "" {
		b.Skip(adaptertest.PostgresURLEnv + " is not set")
	}
	wh := benchTarget(b)
	tbl, rows := benchCSVTable(b)
	benchLoad(b, wh, tbl, rows)
}

// BenchmarkCSVToDuckDB loads the same CSV file into an embedded DuckDB
// file (the default warehouse), replace mode.
func BenchmarkCSVToDuckDB(b *testing.B) {
	tbl, rows := benchCSVTable(b)
	benchLoad(b, benchDuckDB(b), tbl, rows)
}

// benchPostgresTable opens the narrow table of a fresh source database of
// KILN_BENCH_ROWS rows (default 1M).
func benchPostgresTable(b *testing.B) (ingest.Table, int) {
	b.Helper()
	if os.Getenv(adaptertest.PostgresURLEnv) == "" {
		b.Skip(adaptertest.PostgresURLEnv + " is not set")
	}
	rows := benchRows(b, 1_000_000)
	srcURL := benchSourceDB(b, rows)
	src, err := pgsource.Connector().Open(context.Background(), benchConfig(map[string]any{"connector": "postgres", "connection": srcURL}))
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { _ = src.Close() })
	tbl, err := src.Table(context.Background(), benchConfig(map[string]any{"table": "public.narrow"}))
	if err != nil {
		b.Fatalf("Table: %v", err)
	}
	return tbl, rows
}

// benchCSVTable writes the narrow CSV file (KILN_BENCH_CSV_ROWS rows,
// default 1M) and opens it as a files table.
func benchCSVTable(b *testing.B) (ingest.Table, int) {
	b.Helper()
	rows := 1_000_000
	if s := os.Getenv("KILN_BENCH_CSV_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("KILN_BENCH_CSV_ROWS=%q: want a positive integer", s)
		}
		rows = n
	}
	dir := b.TempDir()
	if err := writeNarrowCSV(filepath.Join(dir, "narrow.csv"), rows); err != nil {
		b.Fatal(err)
	}
	src, err := files.Connector().Open(context.Background(), benchConfig(map[string]any{"connector": "files", "path": dir}))
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { _ = src.Close() })
	tbl, err := src.Table(context.Background(), benchConfig(map[string]any{"path": "narrow.csv"}))
	if err != nil {
		b.Fatalf("Table: %v", err)
	}
	return tbl, rows
}

// benchDuckDB opens a fresh embedded DuckDB file.
func benchDuckDB(b *testing.B) adapters.Warehouse {
	b.Helper()
	wh, err := duckdb.Open(context.Background(), adaptertest.DuckDB(b))
	if err != nil {
		b.Fatalf("opening duckdb: %v", err)
	}
	b.Cleanup(func() { _ = wh.Close() })
	return wh
}

// writeNarrowCSV writes the same rows as the source table of
// BenchmarkPostgresToPostgres, as Postgres' COPY ... CSV HEADER spells them.
// KILN_BENCH_CSV_OUT, when set, keeps a copy there for the psql baseline.
func writeNarrowCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Fprintln(w, "id,ts,n,s")
	for g := 1; g <= rows; g++ {
		fmt.Fprintf(w, "%d,%s,%d,name %05d\n", g, t0.Add(time.Duration(g)*time.Second).Format(time.DateTime), g%100000, g%100000)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if out := os.Getenv("KILN_BENCH_CSV_OUT"); out != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	}
	return nil
}
