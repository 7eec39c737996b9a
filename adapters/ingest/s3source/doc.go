// Package s3source is the "s3" ingest connector: it loads CSV, JSON lines,
// JSON and Parquet objects, plain or compressed with gzip (.gz) or zstd
// (.zst), from an S3 bucket or an S3-compatible store (MinIO, Cloudflare
// R2, Ceph, ...), picked by a path or a glob (with **) under the source's
// prefix. Reading, formats and batching are the files connector's
// (files.Table over a files.Store on the bucket).
//
//	sources:
//	  - name: landing
//	    schema: raw_landing
//	    ingest:
//	      connector: s3
//	      bucket: acme-landing
//	      prefix: exports/
//	      region: eu-west-1
//	      access_key_id: "{{ env_var('S3_KEY_ID') }}"
//	      secret_access_key: "{{ env_var('S3_SECRET') }}"
//	    tables:
//	      - name: orders
//	        ingest: {glob: "orders/**/*.csv.gz", mode: append}
//
// Credentials are the explicit keys when access_key_id is set, otherwise
// the standard AWS chain (environment, shared config and credentials files
// with an optional profile, SSO, web identity, container and instance
// roles). The region is the region setting, else the chain's, else
// us-east-1. endpoint points the client at an S3-compatible store and
// switches to path-style addressing (path_style: false turns it back).
//
// With mode: append (and merge) only new objects are read: the state keeps
// each loaded object's key, size and ETag, and an object whose ETag
// changed (rewritten with other contents) is read again whole. The
// modification time is not part of an object's identity: an identical
// re-upload has a new LastModified but the same ETag and is not loaded
// twice.
//
// Open lists the prefix once, so a missing bucket, refused credentials or
// a wrong region fail before any table is read, with the bucket, the HTTP
// status and the S3 error code in the message.
package s3source
