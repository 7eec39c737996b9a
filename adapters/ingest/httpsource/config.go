package httpsource

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// configReader reads typed values out of an ingest.Config and collects every
// problem instead of stopping at the first. A nested mapping (auth,
// paginate) gets a child reader that names its keys "parent.key" and reports
// the parent key's position.
type configReader struct {
	values map[string]any
	prefix string // "auth." for a nested mapping
	pos    func(key string) string
	errs   *[]error
}

func newConfigReader(cfg ingest.Config) *configReader {
	return &configReader{values: cfg.Values, pos: cfg.Pos, errs: new([]error)}
}

// position is "file:line:col: " for key, or "" when unknown.
func (r *configReader) position(key string) string {
	if r.pos == nil {
		return ""
	}
	if p := r.pos(key); p != "" {
		return p + ": "
	}
	return ""
}

func (r *configReader) errorf(key, format string, args ...any) {
	*r.errs = append(*r.errs, fmt.Errorf("%shttp: %s%s: %s", r.position(key), r.prefix, key, fmt.Sprintf(format, args...)))
}

func (r *configReader) err() error { return errors.Join(*r.errs...) }

// nested returns a reader for the mapping under key, or nil when it is absent.
func (r *configReader) nested(key string) *configReader {
	v, ok := r.values[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.errorf(key, "must be a mapping, not %s", kindOf(v))
		return nil
	}
	parentPos := r.position(key)
	return &configReader{
		values: m,
		prefix: r.prefix + key + ".",
		pos: func(string) string {
			return strings.TrimSuffix(parentPos, ": ")
		},
		errs: r.errs,
	}
}

// only reports keys of a nested mapping that are not in known.
func (r *configReader) only(known ...string) {
	var unknown []string
	for k := range r.values {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		r.errorf(k, "unknown key (known: %s)", strings.Join(known, ", "))
	}
}

func (r *configReader) has(key string) bool {
	v, ok := r.values[key]
	return ok && v != nil
}

func (r *configReader) str(key string, required bool, def string) string {
	v, ok := r.values[key]
	if !ok || v == nil {
		if required {
			r.errorf(key, "is required")
		}
		return def
	}
	switch v := v.(type) {
	case string:
		if v == "" && required {
			r.errorf(key, "must not be empty")
		}
		return v
	case int64, float64, bool:
		return scalarText(v)
	}
	r.errorf(key, "must be a string, not %s", kindOf(v))
	return def
}

func (r *configReader) oneOf(key string, required bool, def string, choices ...string) string {
	s := r.str(key, required, def)
	if s != "" && !slices.Contains(choices, s) {
		r.errorf(key, "%q is not one of %s", s, strings.Join(choices, ", "))
	}
	return s
}

func (r *configReader) integer(key string, def int64) int64 {
	v, ok := r.values[key]
	if !ok || v == nil {
		return def
	}
	switch v := v.(type) {
	case int64:
		if v < 0 {
			r.errorf(key, "must not be negative")
			return def
		}
		return v
	case float64:
		if v == float64(int64(v)) && v >= 0 {
			return int64(v)
		}
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	r.errorf(key, "must be a non-negative whole number, not %v", v)
	return def
}

func (r *configReader) number(key string, def float64) float64 {
	v, ok := r.values[key]
	if !ok || v == nil {
		return def
	}
	var f float64
	switch v := v.(type) {
	case int64:
		f = float64(v)
	case float64:
		f = v
	case string:
		var err error
		if f, err = strconv.ParseFloat(v, 64); err != nil {
			r.errorf(key, "must be a number, not %q", v)
			return def
		}
	default:
		r.errorf(key, "must be a number, not %s", kindOf(v))
		return def
	}
	if f < 0 {
		r.errorf(key, "must not be negative")
		return def
	}
	return f
}

// duration reads a Go duration ("30s", "1m30s"); a bare number is seconds.
func (r *configReader) duration(key string, def time.Duration) time.Duration {
	v, ok := r.values[key]
	if !ok || v == nil {
		return def
	}
	switch v := v.(type) {
	case int64:
		if v >= 0 {
			return time.Duration(v) * time.Second
		}
	case float64:
		if v >= 0 {
			return time.Duration(v * float64(time.Second))
		}
	case string:
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			return time.Duration(f * float64(time.Second))
		}
	}
	r.errorf(key, "must be a duration like 30s or a number of seconds, not %v", v)
	return def
}

// stringMap reads a mapping of scalars as text (headers).
func (r *configReader) stringMap(key string) map[string]string {
	v, ok := r.values[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.errorf(key, "must be a mapping, not %s", kindOf(v))
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !isScalar(v) {
			r.errorf(key, "value of %q must be a string, number or boolean, not %s", k, kindOf(v))
			continue
		}
		out[k] = scalarText(v)
	}
	return out
}

// params reads a mapping of query parameters; a list value repeats the
// parameter.
func (r *configReader) params(key string) url.Values {
	v, ok := r.values[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.errorf(key, "must be a mapping, not %s", kindOf(v))
		return nil
	}
	out := url.Values{}
	for k, v := range m {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				if !isScalar(e) {
					r.errorf(key, "items of %q must be strings, numbers or booleans, not %s", k, kindOf(e))
					continue
				}
				out.Add(k, scalarText(e))
			}
		default:
			if !isScalar(v) {
				r.errorf(key, "value of %q must be a string, number, boolean or a list of them, not %s", k, kindOf(v))
				continue
			}
			out.Set(k, scalarText(v))
		}
	}
	return out
}

func isScalar(v any) bool {
	switch v.(type) {
	case nil, string, int64, float64, bool:
		return true
	}
	return false
}

// scalarText spells a config or JSON scalar as it goes into a URL.
func scalarText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
