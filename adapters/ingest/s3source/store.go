package s3source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kilnhq/kiln/adapters/ingest/files"
)

// listPageSize is how many keys one ListObjectsV2 call asks for (S3's
// maximum); tests lower it to exercise paging.
var listPageSize int32 = 1000

// Store is a files.Store on the objects of a bucket below a prefix.
type Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
	// explicitKeys tunes the hint of access-denied messages.
	explicitKeys bool
}

var _ files.Store = (*Store)(nil)

// NewStore returns a Store on bucket below prefix ("" for the whole
// bucket), reading through client.
func NewStore(client *s3.Client, bucket, prefix string) *Store {
	return &Store{client: client, bucket: bucket, prefix: normalizePrefix(prefix)}
}

// Describe spells p (relative to the prefix) as s3://bucket/prefix/p.
func (s *Store) Describe(p string) string {
	return "s3://" + s.bucket + "/" + s.key(p)
}

// key is the object key of p (relative to the prefix).
func (s *Store) key(p string) string {
	return s.prefix + strings.TrimPrefix(p, "/")
}

// List returns every object below dir (relative to the prefix; "" is the
// prefix itself), paging through ListObjectsV2. Dir may also name one
// object. Folder placeholders (keys ending in /) are skipped.
func (s *Store) List(ctx context.Context, dir string) ([]files.Object, error) {
	dir = strings.Trim(dir, "/")
	listPrefix := s.prefix
	if dir != "" {
		listPrefix += dir
	}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.bucket),
		Prefix:  aws.String(listPrefix),
		MaxKeys: aws.Int32(listPageSize),
	})
	var out []files.Object
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.bucketError("listing "+s.Describe(dir), err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") || !strings.HasPrefix(key, s.prefix) {
				continue
			}
			rel := strings.TrimPrefix(key, s.prefix)
			// The prefix "orders" also lists "orders_old/...": keep dir
			// itself and what is below it.
			if dir != "" && rel != dir && !strings.HasPrefix(rel, dir+"/") {
				continue
			}
			obj := files.Object{Path: rel, Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`)}
			if obj.ETag == "" {
				// A store that gives no ETag: fall back to the time.
				obj.MTime = aws.ToTime(o.LastModified)
			}
			out = append(out, obj)
		}
	}
	return out, nil
}

// Open reads one listed object. With its ETag the read is conditional, so
// an object rewritten since it was listed is not read under the old
// version's identity.
func (s *Store) Open(ctx context.Context, o files.Object) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(o.Path))}
	if o.ETag != "" {
		in.IfMatch = aws.String(`"` + o.ETag + `"`)
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, s.objectError(err)
	}
	return out.Body, nil
}

// probe lists at most one key under the prefix: the bucket exists and the
// credentials may list it.
func (s *Store) probe(ctx context.Context) error {
	_, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.bucket),
		Prefix:  aws.String(s.prefix),
		MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return s.bucketError("listing "+s.Describe(""), err)
	}
	return nil
}

// apiError is what S3 said: the HTTP status, the error code and message
// (both "" when the response had no error body) and the bucket's region
// when S3 names it (a request to the wrong region).
type apiError struct {
	status       int
	code         string
	message      string
	bucketRegion string
}

func inspect(err error) (apiError, bool) {
	var a apiError
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		return a, false
	}
	a.status = re.HTTPStatusCode()
	if re.Response != nil {
		a.bucketRegion = re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	var coded interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &coded) {
		a.code, a.message = coded.ErrorCode(), coded.ErrorMessage()
	}
	return a, true
}

// detail spells the status and S3's code and message: "HTTP 403,
// InvalidAccessKeyId: The AWS Access Key Id you provided does not exist".
func (a apiError) detail() string {
	d := fmt.Sprintf("HTTP %d", a.status)
	if a.code != "" && a.code != fmt.Sprint(a.status) {
		d += ", " + a.code
	}
	if a.message != "" && a.message != a.code {
		d += ": " + a.message
	}
	return d
}

func (s *Store) credentialsHint() string {
	if s.explicitKeys {
		return "check access_key_id and secret_access_key"
	}
	return "check the credentials the AWS chain found (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws, the instance role), or set access_key_id and secret_access_key"
}

// deniedHint says what to check after a refusal: the credentials, or
// (when S3 accepted them but refused the request) the permission.
func (s *Store) deniedHint(code, permission string) string {
	if code == "AccessDenied" {
		return "the credentials were accepted but are not allowed this: they need " + permission
	}
	return s.credentialsHint()
}

// bucketError explains a failed bucket-level call (listing).
func (s *Store) bucketError(doing string, err error) error {
	a, ok := inspect(err)
	if !ok {
		return fmt.Errorf("s3: %s: %w", doing, err)
	}
	switch {
	case a.status == 404 || a.code == "NoSuchBucket":
		return fmt.Errorf("s3: bucket %s does not exist (%s)", s.bucket, a.detail())
	case a.status == 403 || a.status == 401 || a.code == "ExpiredToken" || a.code == "InvalidToken":
		return fmt.Errorf("s3: access denied to bucket %s (%s); %s", s.bucket, a.detail(), s.deniedHint(a.code, "s3:ListBucket on the bucket"))
	case a.status == 301 || a.code == "PermanentRedirect" || (a.code == "AuthorizationHeaderMalformed" && a.bucketRegion != ""):
		if a.bucketRegion != "" {
			return fmt.Errorf("s3: bucket %s is in region %s; set region: %s (%s)", s.bucket, a.bucketRegion, a.bucketRegion, a.detail())
		}
		return fmt.Errorf("s3: bucket %s is in another region; set region (%s)", s.bucket, a.detail())
	}
	return fmt.Errorf("s3: %s: %s", doing, a.detail())
}

// objectError explains a failed GetObject; files.Table names the object.
func (s *Store) objectError(err error) error {
	a, ok := inspect(err)
	if !ok {
		return err
	}
	switch {
	case a.code == "NoSuchKey" || a.status == 404:
		return fmt.Errorf("the object was deleted after it was listed (%s); run the load again", a.detail())
	case a.status == 412:
		return fmt.Errorf("the object was rewritten after it was listed (%s); run the load again", a.detail())
	case a.status == 403 || a.status == 401 || a.code == "ExpiredToken" || a.code == "InvalidToken":
		return fmt.Errorf("access denied (%s); %s", a.detail(), s.deniedHint(a.code, "s3:GetObject on the objects"))
	}
	return fmt.Errorf("s3: %s", a.detail())
}
