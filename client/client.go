// Package client is the Go client of Latchkey's management API (/api/v1) and
// the home of its wire types: the CLI uses it, the server's handlers encode
// these types, and users may use it from their own programs.
//
// client imports only the standard library and none of Latchkey's packages, so
// that importing it never drags the server along.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ManagementAudience is the audience of access tokens for the management API;
// ask for scope ManagementScope.
const ManagementAudience = "api://latchkey"

// ManagementScope is the OAuth2 scope that yields a management API token.
const ManagementScope = ManagementAudience + "/.default"

// ErrorBody is the management API's error document.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Target    string `json:"target,omitempty"` // the input field at fault, for BadRequest
	RequestID string `json:"requestId"`
}

// TokenSource gives the bearer token sent with each request. Implementations
// must be safe for concurrent use; ClientCredentials is one.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Client calls Latchkey's management API. It is safe for concurrent use.
type Client struct {
	base   string // https://host[:port], no trailing slash
	hc     *http.Client
	tokens TokenSource
}

// New returns a client of the server at baseURL (such as https://127.0.0.1:8443)
// that sends requests through hc (nil: http.DefaultClient) with bearer tokens
// from tokens (nil: none, for anonymous calls).
func New(baseURL string, hc *http.Client, tokens TokenSource) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, tokens: tokens}
}

// List is one page of a listing. NextLink, when not empty, is the absolute URL
// of the next page.
type List[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// Error is a failure reported by the management API.
type Error struct {
	StatusCode int
	Code       string // BadRequest, NotFound, Forbidden, ...
	Message    string // what is wrong and how to fix it
	Target     string // the input field at fault, if any
	RequestID  string // quote it to the operator: the server logged it
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	b.WriteString(" (")
	if e.Target != "" {
		fmt.Fprintf(&b, "field %s; ", e.Target)
	}
	fmt.Fprintf(&b, "%s, HTTP %d", e.Code, e.StatusCode)
	if e.RequestID != "" {
		b.WriteString(", request id " + e.RequestID)
	}
	b.WriteString(")")
	return b.String()
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// do sends a request to path (escaped, under the base URL) with in as its JSON
// body (nil: none), expects status want, and decodes the answer into out (nil:
// discard it).
func (c *Client) do(ctx context.Context, method, path string, in, out any, want int) error {
	return c.doURL(ctx, method, c.base+path, in, out, want)
}

func (c *Client) doURL(ctx context.Context, method, u string, in, out any, want int) error {
	return sendJSON(ctx, c.hc, c.tokens, method, u, in, out, func(resp *http.Response) error {
		if resp.StatusCode != want {
			return responseError(resp)
		}
		return nil
	})
}

// sendJSON sends in as a JSON body (nil: none) with a bearer token from tokens
// (nil: none), lets check refuse the answer by its status, and decodes the
// body into out (nil: discard it). Both the management API and the Key Vault
// data plane go through it.
func sendJSON(ctx context.Context, hc *http.Client, tokens TokenSource, method, u string, in, out any, check func(*http.Response) error) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tokens != nil {
		tok, err := tokens.Token(ctx)
		if err != nil {
			return fmt.Errorf("get an access token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	if err := check(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, req.URL.Redacted(), err)
	}
	return nil
}

// responseError reads an error answer: the management API's error document,
// or, from something else on the way (a proxy), its status and first bytes.
func responseError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var eb ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message, e.Target = eb.Error.Code, eb.Error.Message, eb.Error.Target
		if eb.Error.RequestID != "" {
			e.RequestID = eb.Error.RequestID
		}
		return e
	}
	e.Code = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
	e.Message = strings.TrimSpace(string(b))
	if len(e.Message) > 200 {
		e.Message = e.Message[:200] + "..."
	}
	if e.Message == "" {
		e.Message = "the server answered " + resp.Status
	}
	return e
}

// listAll follows a listing's nextLinks and returns every item. A nextLink to
// another origin is refused: the bearer token must not leave this server.
func listAll[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	all := []T{}
	next := c.base + path
	seen := map[string]bool{}
	for next != "" {
		if seen[next] {
			return nil, fmt.Errorf("GET %s: the server's nextLink repeats a page", path)
		}
		seen[next] = true
		var page List[T]
		if err := c.doURL(ctx, http.MethodGet, next, nil, &page, http.StatusOK); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		next = page.NextLink
		if next != "" && !strings.HasPrefix(next, c.base+"/") {
			return nil, fmt.Errorf("GET %s: the server's nextLink %q is not on %s", path, next, c.base)
		}
	}
	return all, nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }
