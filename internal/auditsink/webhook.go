package auditsink

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/client"
)

// The defaults of a webhook sink.
const (
	DefaultWebhookBatch = 100
	DefaultWebhookFlush = time.Second
	DefaultTimeout      = 30 * time.Second
)

// WebhookOptions says where a webhook sink posts and how.
type WebhookOptions struct {
	// URL is the https address events are posted to. It must not hold
	// credentials: put them in Header. Logs show it without its query.
	URL string
	// Header is sent with every request. Its values may be credentials:
	// they are never logged nor put in errors.
	Header http.Header
	// CAFile names a PEM file of the certificates to trust for URL instead
	// of the system's.
	CAFile string
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Client, when set, sends the requests instead of one built from CAFile
	// and Timeout (tests use the httptest server's). Redirects are never
	// followed.
	Client *http.Client
	// Now reads the clock for Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// NewWebhook returns a Sink that posts events to an https URL as a JSON
// array of client.AuditEvent, in batches of up to BatchSize events (default
// DefaultWebhookBatch) that wait at most FlushInterval (default
// DefaultWebhookFlush) for more. A 2xx answer delivers the batch. A network
// error, a 408, a 429 or a 5xx is retried with backoff, no sooner than the
// answer's Retry-After; later batches wait, so events arrive in order, at
// least once. Any other answer, a redirect included, refuses the batch for
// good: its events are counted as rejected and logged at Error level, and
// delivery goes on with the next batch.
func NewWebhook(o Options, w WebhookOptions) (*Sink, error) {
	return newSink("webhook", o, DefaultWebhookBatch, DefaultWebhookFlush, func() (destination, error) {
		u, err := CheckURL(w.URL)
		if err != nil {
			return nil, err
		}
		for name, values := range w.Header {
			for _, v := range values {
				if err := CheckHeader(name, v); err != nil {
					return nil, err
				}
			}
		}
		hc, err := webhookClient(w)
		if err != nil {
			return nil, err
		}
		now := w.Now
		if now == nil {
			now = time.Now
		}
		return &webhook{url: u.String(), shown: shownURL(u), header: w.Header.Clone(), client: hc, now: now}, nil
	})
}

// CheckURL parses a webhook URL and returns an error saying what is wrong
// with it, or the URL: https, with a host, without user or password.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return nil, errors.New("a webhook sink needs a url, like https://siem.example/ingest")
	case err != nil:
		return nil, errors.New("url is not a URL: write it like https://siem.example/ingest")
	case u.User != nil:
		return nil, fmt.Errorf("url %s holds a user or password: put credentials in a header (headers_file or header_env) instead", shownURL(u))
	case u.Scheme != "https":
		return nil, fmt.Errorf("url %s is not https: audit events go over TLS only", shownURL(u))
	case u.Host == "":
		return nil, fmt.Errorf("url %s has no host", shownURL(u))
	}
	return u, nil
}

// shownURL is u as logs and errors show it: without user, query or
// fragment, which may hold credentials.
func shownURL(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	s := v.String()
	if u.RawQuery != "" {
		s += "?…"
	}
	return s
}

// webhookClient returns the client the sink posts with: w.Client without
// redirects, or one that trusts w.CAFile (or the system) and times out
// after w.Timeout.
func webhookClient(w WebhookOptions) (*http.Client, error) {
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if w.Client != nil {
		hc := *w.Client
		hc.CheckRedirect = noRedirect
		return &hc, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if w.CAFile != "" {
		pem, err := os.ReadFile(w.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", w.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	return &http.Client{Transport: tr, Timeout: cmp.Or(w.Timeout, DefaultTimeout), CheckRedirect: noRedirect}, nil
}

// webhook is the destination of a webhook sink.
type webhook struct {
	url, shown string
	header     http.Header
	client     *http.Client
	now        func() time.Time
}

func (w *webhook) deliver(ctx context.Context, events []client.AuditEvent) error {
	body, err := json.Marshal(events)
	if err != nil {
		return &refusedError{msg: "encode audit events: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &refusedError{msg: fmt.Sprintf("POST %s: %v", w.shown, err)}
	}
	req.Header = w.header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "latchkey-audit-sink")
	resp, err := w.client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // its text quotes the whole URL, query and all
		}
		return fmt.Errorf("POST %s: %w", w.shown, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection is reused
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &retryError{
			msg:   fmt.Sprintf("POST %s: %s", w.shown, resp.Status),
			after: retryAfter(resp.Header.Get("Retry-After"), w.now()),
		}
	case code >= 300 && code < 400:
		return &refusedError{msg: fmt.Sprintf("POST %s: %s: redirects are not followed: give the final address as url", w.shown, resp.Status)}
	}
	return &refusedError{msg: fmt.Sprintf("POST %s: %s: the receiver refuses the batch; check the sink's url and headers", w.shown, resp.Status)}
}

func (w *webhook) close() error {
	w.client.CloseIdleConnections()
	return nil
}

// retryAfter reads a Retry-After value, delay-seconds or an HTTP date, as
// a wait from now; 0 when there is none or it cannot be read.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
