package auditsink

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"strings"
)

// Header values often hold credentials (a bearer token, an API key), so
// nothing here ever quotes one: errors name the line and the header only.

// forbiddenHeaders are set by the sink or by net/http; a headers file may
// not set them.
var forbiddenHeaders = []string{"Host", "Content-Type", "Content-Length", "Transfer-Encoding", "Connection"}

// CheckHeader returns an error, without the value, saying what is wrong with
// a header a webhook sink would send, or nil.
func CheckHeader(name, value string) error {
	if !validToken(name) {
		return fmt.Errorf("header name %q is not a valid HTTP header name", name)
	}
	for _, f := range forbiddenHeaders {
		if strings.EqualFold(name, f) {
			return fmt.Errorf("header %s is set by Latchkey: leave it out", f)
		}
	}
	if value == "" {
		return fmt.Errorf("header %s has an empty value", name)
	}
	for i := range len(value) {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("the value of header %s holds a control character", name)
		}
	}
	return nil
}

// validToken reports whether s is an HTTP token (RFC 9110), as header names
// must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// ParseHeaders reads headers as "Name: value" lines. Blank lines and lines
// that begin with '#' are skipped; spaces around the name and the value are
// trimmed. A name may repeat, to send several values. Errors name the line
// by number and never quote a value.
func ParseHeaders(r io.Reader) (http.Header, error) {
	h := http.Header{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return nil, fmt.Errorf("line %d has no ':': write each header as Name: value", n)
		}
		k, v := string(bytes.TrimSpace(name)), string(bytes.TrimSpace(value))
		if !validToken(k) { // not quoted: a line without its colon in place may put a credential here
			return nil, fmt.Errorf("line %d: the header name is not a valid HTTP header name (letters, digits and !#$%%&'*+-.^_`|~)", n)
		}
		if err := CheckHeader(k, v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(k), v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read headers: %w", err)
	}
	return h, nil
}

// ReadHeadersFile reads headers from a file of "Name: value" lines
// (ParseHeaders).
func ReadHeadersFile(path string) (http.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := ParseHeaders(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}
