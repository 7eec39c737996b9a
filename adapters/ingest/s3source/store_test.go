package s3source_test

import (
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/files"
	"github.com/kilnhq/kiln/adapters/ingest/s3source"
)

func TestStore(t *testing.T) {
	f := newFakeS3(t)
	f.bucket(t, "data")
	f.putText(t, "data", "raw/a.csv", "id\n1\n")
	f.putText(t, "data", "raw/sub/b.csv", "id\n2\n")
	f.putText(t, "data", "raw/sub/", "")          // a folder placeholder
	f.putText(t, "data", "raw/subway.csv", "x\n") // shares sub's leading text
	f.putText(t, "data", "rawer/c.csv", "id\n3\n")
	f.putText(t, "data", "raw/odd names/é + 1%.csv", "id\n4\n")

	s := s3source.NewStore(f.client, "data", "raw")
	var st files.Store = s
	list := func(dir string) string {
		t.Helper()
		objs, err := st.List(ctx, dir)
		if err != nil {
			t.Fatalf("list %q: %v", dir, err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.Path)
			if o.Size <= 0 || len(o.ETag) != 32 || strings.Contains(o.ETag, `"`) || !o.MTime.IsZero() {
				t.Errorf("object %+v: want a size and an unquoted MD5 ETag, no time", o)
			}
		}
		return strings.Join(out, " ")
	}
	if got, want := list(""), "a.csv odd names/é + 1%.csv sub/b.csv subway.csv"; got != want {
		t.Errorf("list root: %s, want %s", got, want)
	}
	if got, want := list("sub"), "sub/b.csv"; got != want {
		t.Errorf("list sub: %s, want %s", got, want)
	}
	if got, want := list("a.csv"), "a.csv"; got != want {
		t.Errorf("list one object: %s, want %s", got, want)
	}
	if got := list("nothing/here"); got != "" {
		t.Errorf("list a missing folder: %s, want nothing", got)
	}
	if got, want := st.Describe("sub/b.csv"), "s3://data/raw/sub/b.csv"; got != want {
		t.Errorf("describe: %s, want %s", got, want)
	}
	read := func(o files.Object) string {
		t.Helper()
		rc, err := st.Open(ctx, o)
		if err != nil {
			t.Fatalf("open %s: %v", o.Path, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("read %s: %v", o.Path, err)
		}
		return string(data)
	}
	odd, _ := st.List(ctx, "odd names")
	if len(odd) != 1 || read(odd[0]) != "id\n4\n" {
		t.Errorf("object with spaces and symbols in its key: %v", odd)
	}
	objs, _ := st.List(ctx, "sub")
	if got := read(objs[0]); got != "id\n2\n" {
		t.Errorf("open: %q", got)
	}
	// Rewritten after it was listed: not read under the listed ETag.
	f.putText(t, "data", "raw/sub/b.csv", "id\n22\n")
	if _, err := st.Open(ctx, objs[0]); err == nil || !strings.Contains(err.Error(), "rewritten after it was listed") || !strings.Contains(err.Error(), "HTTP 412") {
		t.Errorf("open of a rewritten object: %v", err)
	}
	objs, _ = st.List(ctx, "sub")
	if got := read(objs[0]); got != "id\n22\n" {
		t.Errorf("open after listing again: %q", got)
	}
	// Deleted after it was listed.
	if _, err := f.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("data"), Key: aws.String("raw/sub/b.csv")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Open(ctx, objs[0]); err == nil || !strings.Contains(err.Error(), "deleted after it was listed") {
		t.Errorf("open of a deleted object: %v", err)
	}

	// A missing bucket is an error, not an empty listing.
	if _, err := s3source.NewStore(f.client, "nope", "").List(ctx, ""); err == nil || !strings.Contains(err.Error(), "s3: bucket nope does not exist") {
		t.Errorf("list of a missing bucket: %v", err)
	}
}

// Listings page through ListObjectsV2: five objects at two keys a page
// are three requests, and all five are read.
func TestListPages(t *testing.T) {
	t.Cleanup(s3source.SetListPageSize(2))
	f := newFakeS3(t)
	f.bucket(t, "data")
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		f.putText(t, "data", "raw/p/"+n+".csv", "id\n"+n+"\n")
	}
	tbl := openTable(t, sourceValues(f, "data", "raw"), map[string]any{"glob": "p/*.csv"})
	before := f.listCalls()
	var ids []string
	if _, err := tbl.Read(ctx, ingest.ReadRequest{Full: true}, func(b ingest.Batch) error {
		for _, r := range b.Rows {
			ids = append(ids, r[0].(string))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, " "); got != "1 2 3 4 5" {
		t.Errorf("read %s, want 1 2 3 4 5", got)
	}
	if n := f.listCalls() - before; n != 3 {
		t.Errorf("%d list requests, want 3 pages", n)
	}
}
