package ingest

import "net/url"

// At is "file:line:col: " of key, to start a message about it, or "" when
// cfg has no positions or none for key.
func (cfg Config) At(key string) string {
	if cfg.Pos == nil {
		return ""
	}
	if p := cfg.Pos(key); p != "" {
		return p + ": "
	}
	return ""
}

// HTTPURL reads an http:// or https:// URL with a host (a base URL or an
// endpoint). It returns the setting as written and parsed; the parsed URL
// is nil when the setting is absent or empty, or is not such a URL (a
// problem that is then recorded).
func (r *ConfigReader) HTTPURL(key string, required bool) (string, *url.URL) {
	s := r.Str(key, required, "")
	if s == "" {
		return s, nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		r.Errorf(key, "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		r.Errorf(key, "%q must start with http:// or https://", s)
	case u.Host == "":
		r.Errorf(key, "%q has no host", s)
	default:
		return s, u
	}
	return s, nil
}
