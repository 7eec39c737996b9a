package httpsource

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// paginate says how a table's next page is requested.
type paginate struct {
	kind string // "" (one request), "page", "offset", "cursor", "next_url", "link_header"

	param     string // page, offset, cursor: the query parameter
	start     int64  // page: the first page number
	sizeParam string // page: the page size parameter ("" = none)
	size      int64  // page: the page size
	limit     int64  // offset: the page size (sent as sizeParam)
	next      string // cursor, next_url: dot path to the next cursor or URL
	hasMore   string // dot path to a boolean; false stops
}

var paginateKinds = []string{"page", "offset", "cursor", "next_url", "link_header"}

func parsePaginate(r *ingest.ConfigReader) paginate {
	p := paginate{kind: r.OneOf("type", true, "", paginateKinds...)}
	p.hasMore = r.Str("has_more", false, "")
	switch p.kind {
	case "page":
		r.Only("type", "param", "start", "size_param", "size", "has_more")
		p.param = r.Str("param", false, "page")
		p.start = r.Integer("start", 1)
		p.sizeParam = r.Str("size_param", false, "")
		p.size = r.Integer("size", 100)
		if r.Has("size") && p.sizeParam == "" {
			r.Errorf("size", "needs size_param, the query parameter that carries it")
		}
	case "offset":
		r.Only("type", "param", "limit_param", "limit", "has_more")
		p.param = r.Str("param", false, "offset")
		p.sizeParam = r.Str("limit_param", false, "limit")
		p.limit = r.Integer("limit", 100)
		if p.limit == 0 {
			r.Errorf("limit", "must be more than zero")
		}
	case "cursor":
		r.Only("type", "next", "param", "has_more")
		p.next = r.Str("next", true, "")
		p.param = r.Str("param", true, "")
	case "next_url":
		r.Only("type", "next", "has_more")
		p.next = r.Str("next", true, "")
	case "link_header":
		r.Only("type", "has_more")
	}
	return p
}

// firstParams are the pagination parameters of the first request.
func (p paginate) firstParams(q url.Values) {
	switch p.kind {
	case "page":
		q.Set(p.param, itoa(p.start))
		if p.sizeParam != "" {
			q.Set(p.sizeParam, itoa(p.size))
		}
	case "offset":
		q.Set(p.param, "0")
		q.Set(p.sizeParam, itoa(p.limit))
	}
}

// linkNext returns the target of the rel="next" link of an RFC 8288 Link
// header, or "" when there is none.
func linkNext(h http.Header) string {
	for _, v := range h.Values("Link") {
		for len(v) > 0 {
			lt := strings.IndexByte(v, '<')
			if lt < 0 {
				break
			}
			gt := strings.IndexByte(v[lt:], '>')
			if gt < 0 {
				break
			}
			target := v[lt+1 : lt+gt]
			rest := v[lt+gt+1:]
			// The link's parameters run to the next comma outside quotes.
			end, quoted := len(rest), false
			for i := 0; i < len(rest); i++ {
				switch rest[i] {
				case '"':
					quoted = !quoted
				case ',':
					if !quoted {
						end = i
						i = len(rest)
					}
				}
			}
			if isNextRel(rest[:end]) {
				return target
			}
			v = rest[end:]
		}
	}
	return ""
}

func isNextRel(params string) bool {
	for _, param := range strings.Split(params, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(param), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
			continue
		}
		for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(value), `"`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}
