package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// This file holds the management API's request bodies and list pages.

// maxJSONBody bounds a management API request body.
const maxJSONBody = 1 << 20

// readJSON decodes the request's JSON body into dst, a pointer to a struct.
// Unknown fields, trailing data and bodies over 1 MiB are refused with an
// Invalid error naming the field or position and how to fix it. Messages never
// quote the body: it may hold a password.
func readJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	const o = "httpapi.readJSON"
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return errs.Invalidf(o, "", "the body holds more than one JSON value: send one object")
		}
		return nil
	}
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooLong *http.MaxBytesError
	)
	switch {
	case errors.Is(err, io.EOF):
		return errs.Invalidf(o, "", "the request needs a JSON object body with the fields %s", fieldList(dst))
	case errors.As(err, &tooLong):
		return errs.Invalidf(o, "", "the body is larger than 1 MiB")
	case errors.As(err, &syntax):
		return errs.Invalidf(o, "", "the body is not valid JSON: the error is at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Invalidf(o, "", "the body ends in the middle of a JSON value")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errs.Invalidf(o, "", "the body must be a JSON object with the fields %s, not a JSON %s", fieldList(dst), typ.Value)
		}
		return errs.Invalidf(o, typ.Field, "the field %q must be a JSON %s, not a %s", typ.Field, jsonKind(typ.Type), typ.Value)
	}
	// encoding/json reports unknown fields only in its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return errs.Invalidf(o, name, "unknown field %q: remove it; this request accepts %s", name, fieldList(dst))
	}
	return errs.Invalidf(o, "", "the body is not a valid request: send a JSON object with the fields %s", fieldList(dst))
}

// fieldList names the JSON fields of the struct dst points to.
func fieldList(dst any) string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return "of this request"
	}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

// pageOf reads a listing's paging parameters: maxresults (1 to 1000, default
// 100) and $skiptoken (the cursor from the previous page's nextLink).
func pageOf(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{Limit: store.DefaultPageLimit, After: q.Get("$skiptoken")}
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageLimit {
			return p, errs.Invalidf("httpapi.page", "maxresults", "maxresults must be a whole number from 1 to %d", store.MaxPageLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// writeList writes one page of a listing; next is the store's cursor of the
// next page ("" after the last), which becomes an absolute nextLink on the host
// the client used.
func writeList[T any](w http.ResponseWriter, r *http.Request, items []T, p store.Page, next string) error {
	list := client.List[T]{Value: items}
	if list.Value == nil {
		list.Value = []T{}
	}
	if next != "" {
		// Keep the request's filters: only the page changes.
		q := r.URL.Query()
		q.Set("maxresults", strconv.Itoa(p.Limit))
		q.Set("$skiptoken", next)
		list.NextLink = "https://" + publicHost(r) + r.URL.EscapedPath() + "?" + q.Encode()
	}
	return writeJSON(w, http.StatusOK, list)
}

// listItems converts a page of records with convert and writes it.
func listItems[R, T any](w http.ResponseWriter, r *http.Request, records []R, p store.Page, next string, convert func(R) T) error {
	items := make([]T, 0, len(records))
	for _, rec := range records {
		items = append(items, convert(rec))
	}
	return writeList(w, r, items, p, next)
}
