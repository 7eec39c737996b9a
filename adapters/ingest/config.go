package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ConfigReader reads typed values out of a connector's Config and collects
// every problem instead of stopping at the first; connectors share it so
// their messages read alike ("file:line:col: s3: bucket: is required"). A nested mapping (auth,
// paginate) gets a child reader that names its keys "parent.key" and reports
// the parent key's position.
type ConfigReader struct {
	values    map[string]any
	prefix    string // "auth." for a nested mapping
	pos       func(key string) string
	connector string // named in messages: "http: auth.type: ..."
	errs      *[]error
}

// NewConfigReader reads cfg; connector names the connector in messages.
func NewConfigReader(cfg Config, connector string) *ConfigReader {
	return &ConfigReader{values: cfg.Values, pos: cfg.Pos, connector: connector, errs: new([]error)}
}

// position is "file:line:col: " for key, or "" when unknown.
func (r *ConfigReader) position(key string) string {
	if r.pos == nil {
		return ""
	}
	if p := r.pos(key); p != "" {
		return p + ": "
	}
	return ""
}

func (r *ConfigReader) Errorf(key, format string, args ...any) {
	*r.errs = append(*r.errs, fmt.Errorf("%s%s: %s%s: %s", r.position(key), r.connector, r.prefix, key, fmt.Sprintf(format, args...)))
}

func (r *ConfigReader) Err() error { return errors.Join(*r.errs...) }

// nested returns a reader for the mapping under key, or nil when it is absent.
func (r *ConfigReader) Nested(key string) *ConfigReader {
	v, ok := r.values[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.Errorf(key, "must be a mapping, not %s", describe(v))
		return nil
	}
	parentPos := r.position(key)
	return &ConfigReader{
		values: m,
		prefix: r.prefix + key + ".",
		pos: func(string) string {
			return strings.TrimSuffix(parentPos, ": ")
		},
		connector: r.connector,
		errs:      r.errs,
	}
}

// only reports keys of a nested mapping that are not in known.
func (r *ConfigReader) Only(known ...string) {
	var unknown []string
	for k := range r.values {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		r.Errorf(k, "unknown key (known: %s)", strings.Join(known, ", "))
	}
}

func (r *ConfigReader) Has(key string) bool {
	v, ok := r.values[key]
	return ok && v != nil
}

func (r *ConfigReader) Str(key string, required bool, def string) string {
	v, ok := r.values[key]
	if !ok || v == nil {
		if required {
			r.Errorf(key, "is required")
		}
		return def
	}
	switch v := v.(type) {
	case string:
		if v == "" && required {
			r.Errorf(key, "must not be empty")
		}
		return v
	case int64, float64, bool:
		return ScalarText(v)
	}
	r.Errorf(key, "must be a string, not %s", describe(v))
	return def
}

func (r *ConfigReader) OneOf(key string, required bool, def string, choices ...string) string {
	s := r.Str(key, required, def)
	if s != "" && !slices.Contains(choices, s) {
		r.Errorf(key, "%q is not one of %s", s, strings.Join(choices, ", "))
	}
	return s
}

func (r *ConfigReader) Integer(key string, def int64) int64 {
	v, ok := r.values[key]
	if !ok || v == nil {
		return def
	}
	switch v := v.(type) {
	case int64:
		if v < 0 {
			r.Errorf(key, "must not be negative")
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
	r.Errorf(key, "must be a non-negative whole number, not %v", v)
	return def
}

func (r *ConfigReader) Number(key string, def float64) float64 {
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
			r.Errorf(key, "must be a number, not %q", v)
			return def
		}
	default:
		r.Errorf(key, "must be a number, not %s", describe(v))
		return def
	}
	if f < 0 {
		r.Errorf(key, "must not be negative")
		return def
	}
	return f
}

// duration reads a Go duration ("30s", "1m30s"); a bare number is seconds.
func (r *ConfigReader) Duration(key string, def time.Duration) time.Duration {
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
	r.Errorf(key, "must be a duration like 30s or a number of seconds, not %v", v)
	return def
}

// stringMap reads a mapping of scalars as text (headers).
func (r *ConfigReader) StringMap(key string) map[string]string {
	v, ok := r.values[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.Errorf(key, "must be a mapping, not %s", describe(v))
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !isScalar(v) {
			r.Errorf(key, "value of %q must be a string, number or boolean, not %s", k, describe(v))
			continue
		}
		out[k] = ScalarText(v)
	}
	return out
}

// params reads a mapping of query parameters; a list value repeats the
// parameter.
func (r *ConfigReader) Params(key string) url.Values {
	v, ok := r.values[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.Errorf(key, "must be a mapping, not %s", describe(v))
		return nil
	}
	out := url.Values{}
	for k, v := range m {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				if !isScalar(e) {
					r.Errorf(key, "items of %q must be strings, numbers or booleans, not %s", k, describe(e))
					continue
				}
				out.Add(k, ScalarText(e))
			}
		default:
			if !isScalar(v) {
				r.Errorf(key, "value of %q must be a string, number, boolean or a list of them, not %s", k, describe(v))
				continue
			}
			out.Set(k, ScalarText(v))
		}
	}
	return out
}

// Bool reads true or false.
func (r *ConfigReader) Bool(key string, def bool) bool {
	v, ok := r.values[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		r.Errorf(key, "must be true or false, not %s", describe(v))
		return def
	}
	return b
}

// Strings reads a list of strings; a single string is a list of one.
func (r *ConfigReader) Strings(key string) []string {
	v, ok := r.values[key]
	if !ok || v == nil {
		return nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				r.Errorf(key, "items must be strings, not %s", describe(e))
				continue
			}
			out = append(out, s)
		}
		return out
	}
	r.Errorf(key, "must be a list of strings, not %s", describe(v))
	return nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case nil, string, int64, float64, bool:
		return true
	}
	return false
}

// ScalarText spells a config or JSON scalar as it goes into a URL.
func ScalarText(v any) string {
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

func describe(v any) string {
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
