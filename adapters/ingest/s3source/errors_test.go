package s3source_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/files"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
	"github.com/kilnhq/kiln/adapters/ingest/s3source"
)

func pos(key string) string { return "sources.yml:4:7" }

// openErr opens values and returns the error (failing when there is none).
func openErr(t *testing.T, values map[string]any) string {
	t.Helper()
	src, err := s3source.Connector().Open(ctx, ingest.Config{Values: values, Pos: pos})
	if err == nil {
		_ = src.Close()
		t.Fatalf("open %v: no error", values)
	}
	return err.Error()
}

func wantAll(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q, want it to contain %q", what, got, w)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	f := newFakeS3(t)
	f.bucket(t, "data")
	f.bucket(t, "secret-data")
	f.addKey("AKIANOACCESS", fakeKey{secret: "s", deny: map[string]bool{"secret-data": true}})
	start := time.Now()

	got := openErr(t, sourceValues(f, "nope", ""))
	wantAll(t, "missing bucket", got, "sources.yml:4:7: s3: bucket nope does not exist", "HTTP 404", "NoSuchBucket")

	got = openErr(t, sourceValues(f, "data", "", "access_key_id", "AKIAUNKNOWN"))
	wantAll(t, "unknown key", got, "sources.yml:4:7: s3: access denied to bucket data", "HTTP 403", "InvalidAccessKeyId",
		"check access_key_id and secret_access_key")

	got = openErr(t, sourceValues(f, "data", "", "secret_access_key", "wrong"))
	wantAll(t, "wrong secret", got, "s3: access denied to bucket data", "HTTP 403", "SignatureDoesNotMatch")

	got = openErr(t, sourceValues(f, "secret-data", "x/", "access_key_id", "AKIANOACCESS", "secret_access_key", "s"))
	wantAll(t, "no permission", got, "s3: access denied to bucket secret-data", "HTTP 403, AccessDenied: Access Denied", "they need s3:ListBucket")

	f.inRegion("secret-data", "eu-north-1")
	got = openErr(t, sourceValues(f, "secret-data", ""))
	wantAll(t, "wrong region", got, "s3: bucket secret-data is in region eu-north-1; set region: eu-north-1", "HTTP 301, PermanentRedirect")
	openSource(t, sourceValues(f, "secret-data", "", "region", "eu-north-1"))

	// 4xx answers are not retried: the failures above are immediate.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the failed opens took %v", d)
	}
	// The same key may read a bucket it is allowed.
	openSource(t, sourceValues(f, "data", "", "access_key_id", "AKIANOACCESS", "secret_access_key", "s"))
}

func TestSessionToken(t *testing.T) {
	f := newFakeS3(t)
	f.bucket(t, "data")
	f.putText(t, "data", "a.csv", "id\n1\n")
	f.addKey("ASIATEMP", fakeKey{secret: "temp-secret", token: "the-token"})
	src := sourceValues(f, "data", "", "access_key_id", "ASIATEMP", "secret_access_key", "temp-secret", "session_token", "the-token")
	tbl := openTable(t, src, map[string]any{"path": "a.csv"})
	if _, err := tbl.Read(ctx, ingest.ReadRequest{Full: true}, func(ingest.Batch) error { return nil }); err != nil {
		t.Errorf("read with a session token: %v", err)
	}
	got := openErr(t, sourceValues(f, "data", "", "access_key_id", "ASIATEMP", "secret_access_key", "temp-secret"))
	wantAll(t, "missing session token", got, "access denied to bucket data", "InvalidToken")
}

// A load whose listing or reading is refused, or that matches nothing,
// fails and commits nothing.
func TestFailedLoadsCommitNothing(t *testing.T) {
	f := newFakeS3(t)
	f.bucket(t, "data")
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		name := wh.Dialect().Name()
		f.addKey("AKIA"+name, fakeKey{secret: "s"})
		src := sourceValues(f, "data", name, "access_key_id", "AKIA"+name, "secret_access_key", "s")
		f.putText(t, "data", name+"/orders/a.csv", "id\n1\n")
		dest := ingesttest.Rel(wh, "raw", "orders")
		opts := ingest.LoadOptions{Key: "raw.orders", Mode: ingest.ModeAppend}
		ingesttest.Load(t, wh, dest, openTable(t, src, map[string]any{"glob": "orders/*.csv"}), opts)

		// Nothing matches: the message names the pattern and where it looked.
		missing := ingesttest.Rel(wh, "raw", "missing")
		_, err := ingest.Load(ctx, wh, missing, openTable(t, src, map[string]any{"glob": "missing/*.csv"}), ingest.LoadOptions{Key: "raw.missing"})
		if err == nil {
			t.Fatalf("load of a glob matching nothing succeeded")
		}
		wantAll(t, "no match", err.Error(), "no files match glob missing/*.csv", "s3://data/"+name+"/missing")
		if info, _ := wh.Relation(ctx, missing); info != nil {
			t.Errorf("a load matching nothing created %s", missing.Identifier)
		}
		_, err = ingest.Load(ctx, wh, missing, openTable(t, src, map[string]any{"path": "orders/b.csv"}), ingest.LoadOptions{Key: "raw.missing"})
		if err == nil || !strings.Contains(err.Error(), "no files match path orders/b.csv") {
			t.Errorf("missing path: %v", err)
		}

		// The key is revoked between opening and loading.
		f.putText(t, "data", name+"/orders/b.csv", "id\n2\n")
		tbl := openTable(t, src, map[string]any{"glob": "orders/*.csv"})
		f.revoke("AKIA" + name)
		_, err = ingest.Load(ctx, wh, dest, tbl, opts)
		if err == nil {
			t.Fatalf("load with a revoked key succeeded")
		}
		wantAll(t, "revoked key", err.Error(), "s3: access denied to bucket data", "InvalidAccessKeyId")
		if got := ingesttest.Select(t, wh, dest, "id"); got != "1" {
			t.Errorf("rows %s after a refused load, want 1", got)
		}
		if st := stateFiles(t, wh, "raw.orders"); len(st) != 1 {
			t.Errorf("state %v after a refused load, want only a.csv", st)
		}
		// Allowed again, the next run loads b.csv only.
		f.addKey("AKIA"+name, fakeKey{secret: "s"})
		if res := ingesttest.Load(t, wh, dest, openTable(t, src, map[string]any{"glob": "orders/*.csv"}), opts); res.Inserted != 1 {
			t.Errorf("after the key is back: inserted %d, want 1", res.Inserted)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		values map[string]any
		want   []string
	}{
		{map[string]any{}, []string{"sources.yml:4:7: s3: bucket: is required"}},
		{map[string]any{"bucket": "s3://data/raw"}, []string{"s3: bucket: ", "bucket's name only"}},
		{map[string]any{"bucket": "data/raw"}, []string{"s3: bucket: ", "put the folder in prefix"}},
		{map[string]any{"bucket": "data", "endpoint": "localhost:9000"}, []string{"s3: endpoint: ", "http:// or https://"}},
		{map[string]any{"bucket": "data", "access_key_id": "AKIA"}, []string{"s3: secret_access_key: is required with access_key_id"}},
		{map[string]any{"bucket": "data", "secret_access_key": "x"}, []string{"s3: access_key_id: is required with secret_access_key"}},
		{map[string]any{"bucket": "data", "session_token": "x"}, []string{"s3: session_token: needs access_key_id"}},
		{map[string]any{"bucket": "data", "path_style": "yes"}, []string{"s3: path_style: must be true or false"}},
		{map[string]any{"bucket": []any{"a"}, "prefix": map[string]any{}}, []string{"s3: bucket: must be a string, not a list", "s3: prefix: must be a string, not a mapping"}},
	} {
		wantAll(t, "config", openErr(t, c.values), c.want...)
	}

	f := newFakeS3(t)
	f.bucket(t, "data")
	src := openSource(t, sourceValues(f, "data", ""))
	for _, c := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{}, "needs a path or a glob"},
		{map[string]any{"path": "a", "glob": "b"}, "not both"},
		{map[string]any{"path": "a", "format": "xml"}, `unknown format "xml"`},
	} {
		_, err := src.Table(ctx, ingest.Config{Values: c.values, Pos: pos})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "sources.yml:4:7: ") {
			t.Errorf("table %v: %v, want %q with its position", c.values, err, c.want)
		}
	}
}

// hermeticChain points the AWS chain at nothing but what the test sets.
func hermeticChain(t *testing.T) string {
	dir := t.TempDir()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	return dir
}

func lastRegion(t *testing.T, f *fakeS3) string {
	t.Helper()
	r := f.seenRegions()
	if len(r) == 0 {
		t.Fatal("no request reached the server")
	}
	return r[len(r)-1]
}

func TestCredentialChain(t *testing.T) {
	f := newFakeS3(t)
	f.bucket(t, "data")
	f.putText(t, "data", "raw/a.csv", "id\n1\n")
	read := func(t *testing.T, values map[string]any) {
		t.Helper()
		tbl := openTable(t, values, map[string]any{"path": "a.csv"})
		var rows int
		if _, err := tbl.Read(ctx, ingest.ReadRequest{Full: true}, func(b ingest.Batch) error { rows += len(b.Rows); return nil }); err != nil || rows != 1 {
			t.Errorf("read: %d rows, %v", rows, err)
		}
	}
	noKeys := func(extra ...any) map[string]any {
		return sourceValues(f, "data", "raw", append([]any{"access_key_id", nil, "secret_access_key", nil, "region", nil}, extra...)...)
	}

	t.Run("environment", func(t *testing.T) {
		hermeticChain(t)
		t.Setenv("AWS_ACCESS_KEY_ID", keyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
		t.Setenv("AWS_REGION", "eu-central-1")
		read(t, noKeys())
		if r := lastRegion(t, f); r != "eu-central-1" {
			t.Errorf("signed for region %s, want the environment's eu-central-1", r)
		}
		// An explicit region wins.
		read(t, noKeys("region", "eu-west-3"))
		if r := lastRegion(t, f); r != "eu-west-3" {
			t.Errorf("signed for region %s, want eu-west-3", r)
		}
		// The chain's key is checked like any other.
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
		wantAll(t, "chain's wrong secret", openErr(t, noKeys()), "access denied to bucket data", "SignatureDoesNotMatch", "AWS chain")
	})

	t.Run("profile", func(t *testing.T) {
		dir := hermeticChain(t)
		if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte("[kiln]\naws_access_key_id = "+keyID+"\naws_secret_access_key = "+secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config"), []byte("[profile kiln]\nregion = ap-southeast-2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		read(t, noKeys("profile", "kiln"))
		if r := lastRegion(t, f); r != "ap-southeast-2" {
			t.Errorf("signed for region %s, want the profile's ap-southeast-2", r)
		}
		got := openErr(t, noKeys("profile", "nobody"))
		wantAll(t, "unknown profile", got, "s3: ", "nobody")
	})

	t.Run("default region", func(t *testing.T) {
		hermeticChain(t)
		read(t, sourceValues(f, "data", "raw", "region", nil))
		if r := lastRegion(t, f); r != "us-east-1" {
			t.Errorf("signed for region %s, want us-east-1", r)
		}
	})

	t.Run("no credentials", func(t *testing.T) {
		hermeticChain(t)
		start := time.Now()
		got := openErr(t, noKeys())
		wantAll(t, "no credentials", got, "sources.yml:4:7: s3: no AWS credentials found", "access_key_id")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("finding no credentials took %v", d)
		}
	})
}

func TestSpec(t *testing.T) {
	c := s3source.Connector()
	if c.Name != "s3" || c.Doc == "" || c.Open == nil {
		t.Fatalf("connector %+v", c)
	}
	var names []string
	for _, f := range c.Spec {
		if f.Doc == "" || f.Type == "" || (f.Level != "source" && f.Level != "table") {
			t.Errorf("field %+v: needs a doc, a type and a level", f)
		}
		names = append(names, f.Name)
	}
	for _, n := range []string{"bucket", "prefix", "region", "endpoint", "path_style", "access_key_id", "secret_access_key", "session_token", "profile"} {
		if !slices.Contains(names, n) {
			t.Errorf("spec lacks %s", n)
		}
	}
	for _, f := range files.TableSpec {
		if !slices.Contains(names, f.Name) {
			t.Errorf("spec lacks the files table setting %s", f.Name)
		}
	}
}
