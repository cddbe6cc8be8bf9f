package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Paging bounds (RFC 7644 §3.4.2.4): count defaults to defaultCount and
// is capped at MaxCount, which ServiceProviderConfig advertises.
const (
	defaultCount = 100
	MaxCount     = 1000
	maxIDLen     = 256
)

// listParams are a list request's query.
type listParams struct {
	filter             pred
	start, count       int
	attrs, excludeAttr []string
}

func parseList(c *gin.Context, rt *resourceType) (listParams, *Error) {
	lp := listParams{start: 1, count: defaultCount}
	q := c.Request.URL.Query()
	for k, v := range q {
		if len(v) > 1 {
			return lp, bad("invalidValue", "parameter %s repeated", k)
		}
	}
	if f := q.Get("filter"); f != "" {
		p, e := compileFilter(rt, f)
		if e != nil {
			return lp, e
		}
		lp.filter = p
	}
	num := func(name string, def int) (int, *Error) {
		s := q.Get(name)
		if s == "" {
			return def, nil
		}
		if len(s) > 64 {
			return 0, bad("invalidValue", "%s must be an integer", name)
		}
		n, err := strconv.Atoi(s)
		if errors.Is(err, strconv.ErrRange) {
			// Beyond any list: clamped (past the end, or the cap).
			n, err = math.MaxInt32, nil
			if strings.HasPrefix(s, "-") {
				n = 0
			}
		}
		if err != nil {
			return 0, bad("invalidValue", "%s must be an integer", name)
		}
		return min(max(n, math.MinInt32), math.MaxInt32), nil
	}
	var e *Error
	if lp.start, e = num("startIndex", 1); e != nil {
		return lp, e
	}
	lp.start = max(lp.start, 1) // §3.4.2.4: below 1 is 1
	if lp.count, e = num("count", defaultCount); e != nil {
		return lp, e
	}
	lp.count = min(max(lp.count, 0), MaxCount)
	if lp.attrs, e = splitParam(q.Get("attributes")); e != nil {
		return lp, e
	}
	if lp.excludeAttr, e = splitParam(q.Get("excludedAttributes")); e != nil {
		return lp, e
	}
	return lp, nil
}

// item is one resource of a list, in representation, with what sorts it.
type item struct {
	rep     map[string]any
	created time.Time
	id      string
}

// writeList answers a ListResponse of the items lp's filter keeps, in
// creation order, the page lp names.
func writeList(c *gin.Context, rt *resourceType, lp listParams, items []item) {
	kept := items[:0]
	for _, it := range items {
		if lp.filter == nil || lp.filter(it.rep) {
			kept = append(kept, it)
		}
	}
	slices.SortFunc(kept, func(a, b item) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	total := len(kept)
	from := min(lp.start-1, total)
	to := min(from+lp.count, total)
	res := make([]any, 0, to-from)
	for _, it := range kept[from:to] {
		res = append(res, project(rt, it.rep, lp.attrs, lp.excludeAttr))
	}
	writeJSON(c, http.StatusOK, map[string]any{
		"schemas": []string{URNList}, "totalResults": total, "startIndex": lp.start,
		"itemsPerPage": len(res), "Resources": res,
	})
}

// writeResource answers one resource with its ETag, projected as the
// query asks.
func writeResource(c *gin.Context, rt *resourceType, status int, rep map[string]any, version int64) {
	attrs, e := splitParam(c.Query("attributes"))
	if e != nil {
		writeErr(c, e)
		return
	}
	excl, e := splitParam(c.Query("excludedAttributes"))
	if e != nil {
		writeErr(c, e)
		return
	}
	c.Header("ETag", etag(version))
	if status == http.StatusCreated {
		if m, ok := rep["meta"].(map[string]any); ok {
			c.Header("Location", getString(m, "location"))
		}
	}
	writeJSON(c, status, project(rt, rep, attrs, excl))
}

// representation is a stored resource as served.
func (h *Handler) representation(rt *resourceType, id string, res map[string]any, created, modified time.Time, version int64) map[string]any {
	rep := clone(res).(map[string]any)
	schemas := []string{rt.Schema.ID}
	for _, ext := range rt.Extensions {
		if _, ok := rep[ext.ID]; ok {
			schemas = append(schemas, ext.ID)
		}
	}
	rep["schemas"], rep["id"] = schemas, id
	rep["meta"] = map[string]any{
		"resourceType": rt.Name, "created": created.UTC().Format(time.RFC3339),
		"lastModified": modified.UTC().Format(time.RFC3339),
		"location":     h.o.BaseURL + rt.Endpoint + "/" + id, "version": etag(version),
	}
	return rep
}

// readBody decodes a request body as JSON, bounded (the broker bounded
// it already; this is the package's own guard).
func readBody(c *gin.Context) (map[string]any, *Error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody)
	return decodeObject(c.Request.Body)
}

// decodeStored reads a stored resource, numbers as json.Number.
func decodeStored(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// validID reports whether a path id could name a record.
func validID(id string) bool {
	return id != "" && len(id) <= maxIDLen && utf8.ValidString(id) && !strings.ContainsAny(id, "\x00/")
}
