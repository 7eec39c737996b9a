package s3source_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The credentials the fake server knows.
const (
	keyID  = "AKIAKILNTEST"
	secret = "kiln-test-secret"
)

// fakeS3 is an in-process S3-compatible server: gofakes3 on an in-memory
// backend, behind a check of the requests' AWS Signature Version 4 that
// answers like S3 does (403 with InvalidAccessKeyId, SignatureDoesNotMatch
// or AccessDenied). gofakes3 itself accepts any signature.
type fakeS3 struct {
	URL    string
	client *s3.Client // signed with keyID/secret, for arranging objects

	mu      sync.Mutex
	keys    map[string]fakeKey
	regions []string // the signing region of every accepted request
	lists   int      // ListObjectsV2 requests served
	// home is the region of buckets that are not in every region; a
	// request signed for another region is redirected as S3 does.
	home map[string]string
}

type fakeKey struct {
	secret string
	token  string          // a session token the request must carry
	deny   map[string]bool // buckets this key may not touch
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{keys: map[string]fakeKey{keyID: {secret: secret}}, home: map[string]string{}}
	faker := gofakes3.New(s3mem.New())
	srv := httptest.NewServer(f.authenticate(faker.Server()))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	f.client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
	return f
}

// addKey lets another key in.
func (f *fakeS3) addKey(id string, k fakeKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[id] = k
}

// revoke removes a key.
func (f *fakeS3) revoke(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, id)
}

// seenRegions returns the signing regions of the accepted requests.
func (f *fakeS3) seenRegions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.regions...)
}

// listCalls returns how many ListObjectsV2 requests were served.
func (f *fakeS3) listCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

// inRegion makes bucket answer only requests signed for region.
func (f *fakeS3) inRegion(bucket, region string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.home[bucket] = region
}

func (f *fakeS3) bucket(t *testing.T, name string) {
	t.Helper()
	if _, err := f.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
}

func (f *fakeS3) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if _, err := f.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
	}); err != nil {
		t.Fatalf("putting s3://%s/%s: %v", bucket, key, err)
	}
}

// s3Error is S3's error document.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	RequestID string `xml:"RequestId"`
}

func deny(w http.ResponseWriter, r *http.Request, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-amz-request-id", "DENIED")
	w.WriteHeader(http.StatusForbidden)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(s3Error{Code: code, Message: message, RequestID: "DENIED"})
}

// authenticate verifies the Authorization header as S3 does: the key must
// be known, and re-signing the request's signed headers with its secret
// must give the same signature.
func (f *fakeS3) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		const algo = "AWS4-HMAC-SHA256 "
		if !strings.HasPrefix(auth, algo) {
			deny(w, r, "AccessDenied", "Anonymous access is forbidden for this operation")
			return
		}
		fields := map[string]string{}
		for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
				fields[k] = v
			}
		}
		scope := strings.Split(fields["Credential"], "/") // id/date/region/service/aws4_request
		if len(scope) != 5 {
			deny(w, r, "AuthorizationHeaderMalformed", "The authorization header is malformed")
			return
		}
		id, region, service := scope[0], scope[2], scope[3]
		f.mu.Lock()
		key, known := f.keys[id]
		f.mu.Unlock()
		if !known {
			deny(w, r, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
			return
		}
		if key.token != "" && r.Header.Get("X-Amz-Security-Token") != key.token {
			deny(w, r, "InvalidToken", "The provided token is malformed or otherwise invalid.")
			return
		}
		signingTime, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			deny(w, r, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
			return
		}
		// Re-sign a copy holding only the signed headers.
		check, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
		check.Host = r.Host
		for _, h := range strings.Split(fields["SignedHeaders"], ";") {
			switch h {
			case "host":
			case "content-length":
				check.ContentLength = r.ContentLength
			default:
				check.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
			}
		}
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: key.secret, SessionToken: key.token}
		if err := signer.SignHTTP(r.Context(), creds, check, r.Header.Get("X-Amz-Content-Sha256"), service, region, signingTime); err != nil {
			deny(w, r, "AccessDenied", err.Error())
			return
		}
		_, want, _ := strings.Cut(check.Header.Get("Authorization"), "Signature=")
		if want == "" || want != fields["Signature"] {
			deny(w, r, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
			return
		}
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if key.deny[bucket] {
			deny(w, r, "AccessDenied", "Access Denied")
			return
		}
		f.mu.Lock()
		home := f.home[bucket]
		f.mu.Unlock()
		if home != "" && home != region {
			w.Header().Set("Content-Type", "application/xml")
			w.Header().Set("X-Amz-Bucket-Region", home)
			w.WriteHeader(http.StatusMovedPermanently)
			if r.Method != http.MethodHead {
				_, _ = w.Write([]byte(xml.Header))
				_ = xml.NewEncoder(w).Encode(s3Error{Code: "PermanentRedirect",
					Message: "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.", RequestID: "MOVED"})
			}
			return
		}
		if match := r.Header.Get("If-Match"); match != "" && r.Method == http.MethodGet {
			// gofakes3 ignores If-Match on GET; S3 answers 412 when the
			// object's ETag differs.
			head := httptest.NewRecorder()
			hr := r.Clone(r.Context())
			hr.Method = http.MethodHead
			next.ServeHTTP(head, hr)
			if etag := head.Header().Get("ETag"); head.Code == http.StatusOK && etag != match {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusPreconditionFailed)
				_, _ = w.Write([]byte(xml.Header))
				_ = xml.NewEncoder(w).Encode(s3Error{Code: "PreconditionFailed",
					Message: "At least one of the pre-conditions you specified did not hold", RequestID: "PRECONDITION"})
				return
			}
		}
		f.mu.Lock()
		f.regions = append(f.regions, region)
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" {
			f.lists++
		}
		f.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}
