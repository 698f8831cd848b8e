package auditsink_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/auditsink"
)

func TestParseHeaders(t *testing.T) {
	cases := []struct {
		name, in string
		want     http.Header
		err      string
	}{
		{"empty", "", http.Header{}, ""},
		{"one", "Authorization: Bearer planted\n", http.Header{"Authorization": {"Bearer planted"}}, ""},
		{"comments, blanks, spaces, case", "# the SIEM's token\n\n  x-api-key :  planted  \r\nX-Tenant: t1", http.Header{"X-Api-Key": {"planted"}, "X-Tenant": {"t1"}}, ""},
		{"repeated", "X-A: 1\nX-A: 2\n", http.Header{"X-A": {"1", "2"}}, ""},
		{"colon in value", "Authorization: Basic a:b\n", http.Header{"Authorization": {"Basic a:b"}}, ""},
		{"no colon", "X-A: 1\nBearer planted\n", nil, "line 2 has no ':'"},
		{"bad name", "X planted: v\n", nil, "line 1: the header name is not a valid"},
		{"empty value", "X-A:\n", nil, "line 1: header X-A has an empty value"},
		{"control character", "X-A: plan\x00ted\n", nil, "line 1: the value of header X-A holds a control character"},
		{"content type", "content-type: text/plain\n", nil, "header Content-Type is set by Latchkey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auditsink.ParseHeaders(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "planted") {
					t.Errorf("ParseHeaders(%q) = %v, want an error saying %q that quotes no value", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHeaders(%q) = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseHeaders(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestReadHeadersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headers")
	os.WriteFile(path, []byte("X-Key: planted\nbroken planted\n"), 0o600)
	if _, err := auditsink.ReadHeadersFile(path); err == nil || !strings.Contains(err.Error(), path+": line 2") || strings.Contains(err.Error(), "planted") {
		t.Errorf("ReadHeadersFile = %v, want an error naming the file and line 2, quoting no value", err)
	}
	if _, err := auditsink.ReadHeadersFile(path + ".none"); err == nil {
		t.Error("ReadHeadersFile of a missing file succeeded")
	}
}

// FuzzParseHeaders: ParseHeaders never panics, never quotes a value in an
// error, and what it accepts is a header a request can carry.
func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"", "A: b", "# c\nA: b\nA: c\r\n", "A b", ":", "A:", "Host: x", "A: b\x7f", "A: \tb\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := auditsink.ParseHeaders(strings.NewReader(in))
		if err != nil {
			var names, values []string
			for line := range strings.Lines(in) {
				if k, v, ok := strings.Cut(line, ":"); ok {
					names, values = append(names, strings.TrimSpace(k)), append(values, strings.TrimSpace(v))
				}
			}
			for _, v := range values {
				inName := slices.ContainsFunc(names, func(k string) bool { return strings.Contains(k, v) })
				if len(v) > 3 && !inName && strings.Contains(err.Error(), v) {
					t.Fatalf("the error %q quotes a value", err)
				}
			}
			return
		}
		for name, values := range h {
			for _, v := range values {
				if err := auditsink.CheckHeader(name, v); err != nil {
					t.Fatalf("ParseHeaders accepted %q: %q, which CheckHeader refuses: %v", name, v, err)
				}
			}
		}
	})
}
