package adaptertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
)

// PostgresURLEnv names the variable holding the admin URL of the test server.
const PostgresURLEnv = "KILN_TEST_POSTGRES_URL"

// Postgres creates a fresh database kiln_test_<random> on the server named
// by KILN_TEST_POSTGRES_URL, drops it (WITH (FORCE)) when the test ends, and
// returns a profile for it with schema "analytics" and 4 threads. Without
// the variable the test is skipped, or fails when CI is set.
func Postgres(t testing.TB) adapters.Profile {
	t.Helper()
	raw := os.Getenv(PostgresURLEnv)
	if raw == "" {
		msg := PostgresURLEnv + " is not set; set it to e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run Postgres tests"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		t.Fatalf("parsing %s: %v", PostgresURLEnv, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parsing %s: %v", PostgresURLEnv, err)
	}
	name := "kiln_test_" + randomSuffix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connecting to %s: %v", PostgresURLEnv, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "create database "+name); err != nil {
		t.Fatalf("creating test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Errorf("connecting to drop test database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	return adapters.Profile{
		Type:           "postgres",
		Host:           cfg.Host,
		Port:           int(cfg.Port),
		User:           cfg.User,
		Password:       cfg.Password,
		DBName:         name,
		Schema:         "analytics",
		Threads:        4,
		SSLMode:        u.Query().Get("sslmode"),
		ConnectTimeout: int(cfg.ConnectTimeout / time.Second),
	}
}

// DuckDB returns a profile for a fresh DuckDB file under t.TempDir() with
// schema "main" and 4 threads.
func DuckDB(t testing.TB) adapters.Profile {
	t.Helper()
	return adapters.Profile{
		Type:    "duckdb",
		Path:    filepath.Join(t.TempDir(), "kiln.duckdb"),
		Schema:  "main",
		Threads: 4,
	}
}

func randomSuffix(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random database name: %v", err)
	}
	return hex.EncodeToString(b) + strconv.Itoa(os.Getpid()%1000)
}
