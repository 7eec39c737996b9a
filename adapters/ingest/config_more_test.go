package ingest_test

import (
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters/ingest"
)

func TestConfigAt(t *testing.T) {
	if got := (ingest.Config{}).At("path"); got != "" {
		t.Errorf("without positions: %q", got)
	}
	cfg := ingest.Config{Pos: func(key string) string {
		if key == "path" {
			return "sources.yml:3:7"
		}
		return ""
	}}
	if got, want := cfg.At("path"), "sources.yml:3:7: "; got != want {
		t.Errorf("At(path) = %q, want %q", got, want)
	}
	if got := cfg.At("glob"); got != "" {
		t.Errorf("At(glob) = %q, want none", got)
	}
}

func TestHTTPURL(t *testing.T) {
	for _, c := range []struct {
		value any // nil: the setting is absent
		want  string
		err   string
	}{
		{nil, "", ""},
		{"https://api.example.com/v2", "https://api.example.com/v2", ""},
		{"http://localhost:9000", "http://localhost:9000", ""},
		{"ftp://x", "", `s3: endpoint: "ftp://x" must start with http:// or https://`},
		{"https://", "", `s3: endpoint: "https://" has no host`},
		{"http://a b", "", "s3: endpoint: parse"},
	} {
		values := map[string]any{}
		if c.value != nil {
			values["endpoint"] = c.value
		}
		r := ingest.NewConfigReader(ingest.Config{Values: values}, "s3")
		raw, u := r.HTTPURL("endpoint", false)
		got := ""
		if u != nil {
			got = u.String()
			if raw != got {
				t.Errorf("%v: raw %q, URL %q", c.value, raw, got)
			}
		}
		err := r.Err()
		switch {
		case got != c.want:
			t.Errorf("%v: URL %q, want %q", c.value, got, c.want)
		case c.err == "" && err != nil:
			t.Errorf("%v: %v", c.value, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: %v, want %q", c.value, err, c.err)
		}
	}
	r := ingest.NewConfigReader(ingest.Config{Values: map[string]any{}}, "http")
	if _, u := r.HTTPURL("base_url", true); u != nil || r.Err() == nil || r.Err().Error() != "http: base_url: is required" {
		t.Errorf("required and absent: %v, %v", u, r.Err())
	}
}
