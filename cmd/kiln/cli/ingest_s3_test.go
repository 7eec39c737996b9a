package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// TestIngestS3Build runs kiln build on a project whose source is an S3
// bucket (an in-process gofakes3 server): the objects load, a model builds
// on them, and an object added later is appended exactly once.
func TestIngestS3Build(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("kiln-key", "kiln-secret", ""),
	})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("landing")}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(key), Body: bytes.NewReader([]byte(body))}); err != nil {
			t.Fatal(err)
		}
	}
	put("exports/orders/2024-01.csv", "id,amount\n1,10.5\n2,20\n")
	put("exports/other.txt", "not matched\n")
	t.Setenv("TEST_S3_ENDPOINT", srv.URL)
	t.Setenv("TEST_S3_KEY", "kiln-key")
	t.Setenv("TEST_S3_SECRET", "kiln-secret")

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"dbt_project.yml": "name: lake\n",
		"models/sources.yml": `version: 2
sources:
  - name: landing
    schema: raw_landing
    ingest:
      connector: s3
      bucket: landing
      prefix: exports/
      endpoint: "{{ env_var('TEST_S3_ENDPOINT') }}"
      access_key_id: "{{ env_var('TEST_S3_KEY') }}"
      secret_access_key: "{{ env_var('TEST_S3_SECRET') }}"
    tables:
      - name: orders
        ingest: {glob: "orders/*.csv", mode: append}
`,
		"models/order_totals.sql": "select count(*) as orders, sum(amount) as total from {{ source('landing', 'orders') }}\n",
	})
	code, out, errb := kiln(t, "build", "--project-dir", dir)
	if code != 0 {
		t.Fatalf("build exit %d\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out, "OK load of source landing.orders into raw_landing.orders") || !strings.Contains(out, "[APPEND 2, ") {
		t.Errorf("stdout:\n%s", out)
	}
	q := duckQuerier(filepath.Join(dir, "warehouse.duckdb"))
	if got := q(t, "select orders || ' ' || total from main.order_totals"); got != "2 30.5" {
		t.Errorf("order_totals = %q", got)
	}

	put("exports/orders/2024-02.csv", "id,amount\n3,1\n")
	for run := 0; run < 2; run++ {
		if code, out, errb := kiln(t, "build", "--project-dir", dir); code != 0 {
			t.Fatalf("build %d exit %d\n%s\n%s", run+2, code, out, errb)
		}
	}
	if got := q(t, "select string_agg(id || '@' || _kiln_file, ' ' order by id) from raw_landing.orders"); got != "1@orders/2024-01.csv 2@orders/2024-01.csv 3@orders/2024-02.csv" {
		t.Errorf("orders after two more builds = %q (each object once)", got)
	}

	// An unreachable endpoint stops the load, naming the source.
	t.Setenv("TEST_S3_ENDPOINT", "http://127.0.0.1:1")
	code, out, errb = kiln(t, "ingest", "--project-dir", dir)
	if code != 1 || !strings.Contains(errb, "models/sources.yml:") || !strings.Contains(errb, "s3") {
		t.Errorf("unreachable endpoint: exit %d\n%s\n%s", code, out, errb)
	}
}
