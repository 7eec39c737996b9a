package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/postgres"
)

func openPG(t *testing.T, p adapters.Profile) *postgres.Warehouse {
	t.Helper()
	wh, err := postgres.Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

func TestLocker(t *testing.T) {
	adaptertest.Locker(t, func(t *testing.T) adapters.Warehouse {
		return openPG(t, adaptertest.Postgres(t))
	})
}

// A session that is not kiln's holding the key is named by its
// application_name, and kiln's own connections are identifiable.
func TestLockForeignHolderAndApplicationName(t *testing.T) {
	ctx := context.Background()
	p := adaptertest.Postgres(t)
	wh := openPG(t, p)
	defer wh.Close()

	rows, err := wh.Query(ctx, "select current_setting('application_name')")
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	vals, _ := rows.Values()
	rows.Close()
	if app, _ := vals[0].(string); app != postgres.ApplicationName() || !strings.HasPrefix(app, "kiln pid ") {
		t.Errorf("pool application_name = %q, want %q", vals[0], postgres.ApplicationName())
	}

	cfg, err := pgx.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = p.Host, uint16(p.Port), p.User, p.Password, p.DBName
	cfg.TLSConfig = nil
	cfg.RuntimeParams["application_name"] = "psql"
	other, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "select pg_advisory_lock($1)", postgres.LockKey("analytics")); err != nil {
		t.Fatal(err)
	}
	_, err = wh.Lock(ctx, "analytics", 0)
	var le *adapters.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("Lock = %v, want *LockedError", err)
	}
	if !le.Foreign || !strings.HasPrefix(le.Holder, `"psql" backend pid `) || !strings.Contains(le.Holder, "since ") {
		t.Errorf("holder = %+v, want the psql session named", le)
	}
	// Another key is free.
	unlock, err := wh.Lock(ctx, "staging", 0)
	if err != nil {
		t.Fatalf("Lock on another key: %v", err)
	}
	unlock()
}
