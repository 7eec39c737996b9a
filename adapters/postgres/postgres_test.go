package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/postgres"
)

func TestConformance(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapters.Warehouse {
		t.Helper()
		wh, err := postgres.Open(context.Background(), adaptertest.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		return wh
	})
}

func TestUnreachable(t *testing.T) {
	p := adapters.Profile{Host: "127.0.0.1", Port: 5999, User: "postgres", DBName: "postgres", SSLMode: "disable", ConnectTimeout: 2}
	_, err := postgres.Open(context.Background(), p)
	if !errors.Is(err, adapters.ErrUnreachable) {
		t.Fatalf("error %v does not wrap ErrUnreachable", err)
	}
	if !strings.HasPrefix(err.Error(), "could not connect to postgres at 127.0.0.1:5999: ") {
		t.Errorf("message = %q", err.Error())
	}
}

func TestDialect(t *testing.T) {
	p := adaptertest.Postgres(t)
	p.SearchPath = "analytics,public"
	wh, err := postgres.Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	d := wh.Dialect()
	if got := d.Render(adapters.Relation{Schema: "s", Identifier: "m"}); got != `"`+p.DBName+`"."s"."m"` {
		t.Errorf("Render = %s", got)
	}
	for portable, want := range map[string]string{"integer": "integer", "float": "float8", "timestamp": "timestamp without time zone", "json": "jsonb", "text": "text"} {
		if got := d.TypeName(portable); got != want {
			t.Errorf("TypeName(%s) = %s, want %s", portable, got, want)
		}
	}
	rows, err := wh.Query(context.Background(), "show search_path")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatal(rows.Err())
	}
	vals, _ := rows.Values()
	if s, _ := vals[0].(string); strings.ReplaceAll(s, " ", "") != "analytics,public" {
		t.Errorf("search_path = %v", vals[0])
	}
}
