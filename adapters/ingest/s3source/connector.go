package s3source

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/files"
)

// defaultRegion is the region when neither the settings nor the AWS chain
// name one.
const defaultRegion = "us-east-1"

// noCredentials explains a chain that found no credentials.
const noCredentials = "no AWS credentials found: set access_key_id and secret_access_key, " +
	"or give the standard AWS chain some (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or profile, ~/.aws/credentials, SSO, an instance or container role)"

// sourceSpec is the s3 connector's source-level configuration.
var sourceSpec = []ingest.Field{
	{Name: "bucket", Type: "string", Required: true, Level: "source",
		Doc: "Bucket name (without s3:// or a folder; put the folder in prefix)."},
	{Name: "prefix", Type: "string", Level: "source", Default: "",
		Doc: "Folder inside the bucket that the tables' paths and globs are relative to, e.g. exports/; the whole bucket by default."},
	{Name: "region", Type: "string", Level: "source",
		Doc: "The bucket's region; by default the AWS chain's (AWS_REGION, the profile), else " + defaultRegion + "."},
	{Name: "endpoint", Type: "string", Level: "source",
		Doc: "URL of an S3-compatible store (MinIO, R2, Ceph, ...), e.g. http://localhost:9000; implies path-style addressing."},
	{Name: "path_style", Type: "bool", Level: "source",
		Doc: "Address buckets as endpoint/bucket/key instead of bucket.endpoint/key; true by default with endpoint, false without."},
	{Name: "access_key_id", Type: "string", Level: "source",
		Doc: "Explicit access key, normally \"{{ env_var('...') }}\"; without it credentials come from the standard AWS chain."},
	{Name: "secret_access_key", Type: "string", Level: "source",
		Doc: "Secret of access_key_id, normally \"{{ env_var('...') }}\"; required with access_key_id."},
	{Name: "session_token", Type: "string", Level: "source",
		Doc: "Session token of temporary credentials, with access_key_id and secret_access_key."},
	{Name: "profile", Type: "string", Level: "source",
		Doc: "Named profile of the shared AWS config and credentials files, for the chain's credentials and region (instead of AWS_PROFILE)."},
}

// tableSpec is files.TableSpec with path and glob relative to the prefix.
var tableSpec = func() []ingest.Field {
	out := make([]ingest.Field, 0, len(files.TableSpec))
	for _, f := range files.TableSpec {
		switch f.Name {
		case "path":
			f.Doc = "An object, or a folder whose objects are all read, relative to the source's prefix."
		case "glob":
			f.Doc = "A glob relative to the source's prefix; ** matches any number of folders. One of path or glob is required."
		}
		out = append(out, f)
	}
	return out
}()

// Spec is the s3 connector's configuration, source and table level.
var Spec = append(append([]ingest.Field(nil), sourceSpec...), tableSpec...)

// Connector returns the "s3" ingest connector.
func Connector() ingest.Connector {
	return ingest.Connector{
		Name: "s3",
		Doc:  "CSV, JSON lines, JSON and Parquet objects (optionally gzip or zstd compressed) in an S3 bucket or an S3-compatible store; append loads only new objects (by key and ETag).",
		Spec: Spec,
		Open: open,
	}
}

// settings is a parsed source-level config.
type settings struct {
	bucket       string
	prefix       string // "" or ending in "/"
	region       string
	endpoint     string
	pathStyle    bool
	accessKeyID  string
	secretKey    string
	sessionToken string
	profile      string
}

// explicitKeys reports whether the credentials are the configured keys
// (rather than the AWS chain's).
func (s settings) explicitKeys() bool { return s.accessKeyID != "" }

func parseSettings(cfg ingest.Config) (settings, error) {
	r := ingest.NewConfigReader(cfg, "s3")
	var s settings
	s.bucket = r.Str("bucket", true, "")
	if b := s.bucket; b != "" {
		switch {
		case strings.Contains(b, "://"):
			r.Errorf("bucket", "%q: give the bucket's name only (a folder goes in prefix)", b)
		case strings.Contains(b, "/"):
			r.Errorf("bucket", "%q: a bucket name has no /; put the folder in prefix", b)
		}
	}
	s.prefix = normalizePrefix(r.Str("prefix", false, ""))
	s.region = strings.TrimSpace(r.Str("region", false, ""))
	if e, u := r.HTTPURL("endpoint", false); u != nil {
		s.endpoint = strings.TrimSuffix(e, "/")
	}
	s.pathStyle = r.Bool("path_style", r.Has("endpoint"))
	s.accessKeyID = r.Str("access_key_id", false, "")
	s.secretKey = r.Str("secret_access_key", false, "")
	s.sessionToken = r.Str("session_token", false, "")
	switch {
	case s.accessKeyID != "" && s.secretKey == "":
		r.Errorf("secret_access_key", "is required with access_key_id (or leave both out to use the AWS credential chain)")
	case s.accessKeyID == "" && s.secretKey != "":
		r.Errorf("access_key_id", "is required with secret_access_key (or leave both out to use the AWS credential chain)")
	case s.accessKeyID == "" && s.sessionToken != "":
		r.Errorf("session_token", "needs access_key_id and secret_access_key")
	}
	s.profile = r.Str("profile", false, "")
	if s.profile != "" && s.explicitKeys() {
		r.Errorf("profile", "set either profile or access_key_id/secret_access_key, not both")
	}
	return s, r.Err()
}

// normalizePrefix turns "/exports", "exports/" or "exports" into
// "exports/", and "", "/" or "." into "".
func normalizePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" || p == "." {
		return ""
	}
	return p + "/"
}

// newClient builds the S3 client of s.
func newClient(ctx context.Context, s settings) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if s.region != "" {
		opts = append(opts, config.WithRegion(s.region))
	}
	if s.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(s.profile))
	}
	if s.explicitKeys() {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(s.accessKeyID, s.secretKey, s.sessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultRegion
	}
	if !s.explicitKeys() {
		// Resolve the chain's credentials now (they are cached) so that
		// finding none reads as that rather than as a failed request.
		if awsCfg.Credentials == nil {
			return nil, errors.New(noCredentials)
		}
		if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", noCredentials, err)
		}
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if s.endpoint != "" {
			o.BaseEndpoint = aws.String(s.endpoint)
		}
		o.UsePathStyle = s.pathStyle
		// Objects uploaded without a checksum are common (older clients,
		// S3-compatible stores); don't log a warning for each one.
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

type source struct {
	set    settings
	client *s3.Client
}

func open(ctx context.Context, cfg ingest.Config) (ingest.Source, error) {
	set, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	client, err := newClient(ctx, set)
	if err != nil {
		return nil, fmt.Errorf("%ss3: %w", cfg.At(""), err)
	}
	src := &source{set: set, client: client}
	// Fail early on a missing bucket, refused credentials or a wrong
	// region: list (at most) one object under the prefix. Listing rather
	// than HeadBucket because it needs the permission the loads need
	// (s3:ListBucket, possibly limited to the prefix) and its errors carry
	// S3's error code and message.
	if err := src.store().probe(ctx); err != nil {
		return nil, fmt.Errorf("%s%w", cfg.At("bucket"), err)
	}
	return src, nil
}

func (s *source) store() *Store {
	return &Store{client: s.client, bucket: s.set.bucket, prefix: s.set.prefix, explicitKeys: s.set.explicitKeys()}
}

// Table configures one table (files.TableSpec) on the bucket and prefix.
func (s *source) Table(ctx context.Context, cfg ingest.Config) (ingest.Table, error) {
	return files.NewTable(ctx, s.store(), cfg)
}

func (s *source) Close() error { return nil }
