package httpapi

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/internal/errs"
)

// This file is the connection proxy's forwarding, behind ConnectionForwarder
// so that the AI gateway (internal/gateway: streaming, metering, rate limits)
// can take its place; until it does, passthrough forwards with the standard
// library's reverse proxy.

// ProxyUpstream is where a call through the connection proxy goes and how it
// is authenticated there (the gateway's Upstream).
type ProxyUpstream struct {
	// BaseURL is the connection's target; the path after /proxy is appended.
	BaseURL *url.URL
	// Inject sets the connection's credential on the outgoing headers.
	Inject func(h http.Header)
}

// ProxyCaller is who calls through the connection proxy, for metering and
// rate limits.
type ProxyCaller struct {
	Connection string // the connection's scope
	Principal  string // the caller's object id
}

// ConnectionForwarder forwards a call through the connection proxy: rest is
// the path after /proxy ("/" or "/chat/completions"). It removes the
// caller's credentials and cookies, lets up.Inject set the connection's,
// streams the answer as it arrives, and keeps the request's X-Request-Id on
// the answer. An error it returns is written by the route; it returns nil
// once an answer has started.
type ConnectionForwarder interface {
	Forward(w http.ResponseWriter, r *http.Request, up ProxyUpstream, c ProxyCaller, rest string) error
}

// callerCredentialHeaders are removed from every forwarded call: the
// caller's Latchkey token and keys must never reach an upstream.
var callerCredentialHeaders = []string{"Authorization", "Api-Key", "Ocp-Apim-Subscription-Key", "Cookie", "Proxy-Authorization"}

// passthrough is the ConnectionForwarder of a server without the AI gateway:
// a reverse proxy that flushes every write, so that server-sent events pass
// as they come.
type passthrough struct {
	transport http.RoundTripper
}

// Forward implements ConnectionForwarder.
func (p passthrough) Forward(w http.ResponseWriter, r *http.Request, up ProxyUpstream, _ ProxyCaller, rest string) error {
	var failed error
	rp := &httputil.ReverseProxy{
		Transport:     p.transport,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := *up.BaseURL
			target.Path = strings.TrimSuffix(target.Path, "/") + rest
			target.RawPath = ""
			target.RawQuery = r.URL.RawQuery
			pr.Out.URL = &target
			pr.Out.Host = ""
			for _, h := range callerCredentialHeaders {
				pr.Out.Header.Del(h)
			}
			if up.Inject != nil {
				up.Inject(pr.Out.Header)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			// The answer carries this request's id, not the upstream's.
			resp.Header.Del("X-Request-Id")
			resp.Header.Del("Set-Cookie")
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			failed = err
		},
	}
	rp.ServeHTTP(w, r)
	if failed != nil {
		if errors.Is(failed, r.Context().Err()) && r.Context().Err() != nil {
			return errs.E(errs.Unavailable, "httpapi.proxy", "the call was cancelled", failed)
		}
		return errs.E(errs.Unavailable, "httpapi.proxy", "the connection's target did not answer: check its URL and that it is up, then retry", failed)
	}
	return nil
}
