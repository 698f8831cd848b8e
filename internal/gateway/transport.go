package gateway

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// The transport's settings. Model calls are long: a stream may run for
// minutes, and a large completion may take minutes before its first byte, so
// there is no overall timeout, only bounds on each step that should be quick.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 5 * time.Minute
	idleConnTimeout       = 90 * time.Second
	// maxIdleConnsPerHost keeps enough HTTP/1.1 connections to one upstream
	// for a few hundred concurrent calls to reuse them.
	maxIdleConnsPerHost = 256
	maxIdleConns        = 1024
)

// NewTransport returns the transport a Gateway uses when Options.Transport is
// nil: connections are kept alive and reused (up to 256 idle per upstream),
// HTTP/2 is used when the upstream offers it over TLS, dials and TLS
// handshakes time out after 10 s and a response's headers after 5 minutes;
// bodies (streams) have no time limit. tlsConfig, when not nil, is used for
// TLS (e.g. to trust a private CA); nil uses the system's roots. It does not
// read proxy settings from the environment: set Proxy on the result to use one.
func NewTransport(tlsConfig *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig.Clone()
	}
	return t
}
