//go:build gatewaybench

package gateway

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
)

// This file is built only with -tags gatewaybench. It turns the package's
// test binary into a standalone gateway for bench/run-gateway.sh, the
// gateway without the server around it (GATEWAY=latchkey measures latchkey
// dev instead): packages under bench/ may not import Latchkey's.
// It serves the gateway's two surfaces over HTTPS, as httpapi does, with
// one account ("bench"), one caller key and limits that are never reached;
// and, on a second address, a bare httputil.ReverseProxy to the same
// upstream, the yardstick for the cost of a proxy hop; and, on a third, a
// TLS relay that decrypts each connection and copies its bytes to the
// upstream over a TLS connection of its own, the floor under any gateway
// that must read a request to inject a credential. It runs until it is sent
// SIGTERM or SIGINT:
//
//	go test -c -tags gatewaybench -o gateway.test ./internal/gateway
//	./gateway.test -test.run '^TestRunGateway$' -gateway.data .latchkey \
//		-gateway.addr 127.0.0.1:18446 -gateway.proxy-addr 127.0.0.1:18447 \
//		-gateway.relay-addr 127.0.0.1:18448 \
//		-gateway.upstream https://127.0.0.1:18445/v1 \
//		-gateway.upstream-key sk-bench-upstream -gateway.caller-key bench-caller-key

var (
	runAddr        = flag.String("gateway.addr", "127.0.0.1:18446", "address to listen on")
	runProxyAddr   = flag.String("gateway.proxy-addr", "127.0.0.1:18447", "address of the bare reverse proxy")
	runRelayAddr   = flag.String("gateway.relay-addr", "127.0.0.1:18448", "address of the TLS relay")
	runData        = flag.String("gateway.data", ".latchkey", "dev server data folder: server.pem, server-key.pem and ca.pem")
	runUpstream    = flag.String("gateway.upstream", "https://127.0.0.1:18445/v1", "the upstream's OpenAI base URL")
	runUpstreamKey = flag.String("gateway.upstream-key", "sk-bench-upstream", "the key the gateway injects")
	runCallerKey   = flag.String("gateway.caller-key", "bench-caller-key", "the key callers send in api-key")
	runHTTP1       = flag.Bool("gateway.upstream-http1", false, "speak HTTP/1.1 to the upstream even when it offers HTTP/2")
)

// runTransport is the gateway's default transport, or with -gateway.upstream-http1
// one that keeps to HTTP/1.1.
func runTransport(roots *x509.CertPool) *http.Transport {
	t := NewTransport(&tls.Config{RootCAs: roots})
	if *runHTTP1 {
		t.ForceAttemptHTTP2 = false
	}
	return t
}

func TestRunGateway(t *testing.T) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	base, err := url.Parse(*runUpstream)
	if err != nil || base.Host == "" {
		t.Fatalf("-gateway.upstream %q is not a URL", *runUpstream)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(*runData, "server.pem"), filepath.Join(*runData, "server-key.pem"))
	if err != nil {
		t.Fatalf("TLS certificate: %v: point -gateway.data at a folder where latchkey dev has run", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(*runData, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s/ca.pem holds no certificate", *runData)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	g := New(Options{Logger: log, Transport: runTransport(roots)})
	key := *runUpstreamKey
	up := Upstream{BaseURL: base, Inject: func(h http.Header) { h.Set("Authorization", "Bearer "+key) }}
	limits := Limits{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40}
	serve := func(f serveFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", newRequestID())
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Api-Key")), []byte(*runCallerKey)) != 1 {
				writeTestError(w, errs.E(errs.Unauthenticated, "gateway runner", "send the caller key in api-key", nil))
				return
			}
			if err := f(w, r, up, Caller{Account: r.PathValue("account"), Key: "key1"}, limits, "/"+r.PathValue("rest")); err != nil {
				writeTestError(w, err)
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts/{account}/v1/{rest...}", serve(g.ServeOpenAI))
	mux.HandleFunc("POST /accounts/{account}/openai/{rest...}", serve(g.ServeAzureOpenAI))
	// The yardstick: forward every request to the upstream's chat
	// completions with the upstream's key, and nothing else. It reads the
	// body first, as the gateway does (see call.body).
	bare := &httputil.ReverseProxy{
		Transport:  runTransport(roots),
		BufferPool: &bufferPool{},
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.Out.URL.Path = base.Path + "/chat/completions"
			up.Inject(pr.Out.Header)
		},
	}
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultMaxBodyBytes))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		bare.ServeHTTP(w, r)
	})

	errc := make(chan error, 2)
	var servers []*http.Server
	for _, s := range []struct {
		addr string
		h    http.Handler
		what string
	}{{*runAddr, mux, "gateway"}, {*runProxyAddr, proxy, "bare proxy"}} {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{ // latchkey serve's settings
			Handler:           s.h,
			TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      2 * time.Minute,
			IdleTimeout:       2 * time.Minute,
		}
		servers = append(servers, srv)
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
		log.Warn("gateway runner listening", "serves", s.what, "address", ln.Addr().String(), "upstream", base.String())
	}
	relay, err := serveRelay(*runRelayAddr, cert, base.Host, roots)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	log.Warn("gateway runner listening", "serves", "TLS relay", "address", relay.Addr().String(), "upstream", base.Host)
	select {
	case err := <-errc:
		t.Fatal(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			t.Error(err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}
	u := g.Usage("bench")
	log.Warn("gateway runner stopped", "requests", u.Requests, "prompt_tokens", u.PromptTokens, "completion_tokens", u.CompletionTokens)
}

// serveRelay listens on addr for TLS connections that speak HTTP/1.1 and
// relays each one's bytes, decrypted, to a TLS connection of its own to
// upstream (a host:port), and back. It reads nothing of the HTTP inside: it
// is a hop that decrypts and encrypts again and does no more. Closing the
// listener it returns stops it taking connections; those open end when
// either side closes.
func serveRelay(addr string, cert tls.Certificate, upstream string, roots *x509.CertPool) (net.Listener, error) {
	ln, err := tls.Listen("tcp", addr, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	})
	if err != nil {
		return nil, err
	}
	upCfg := &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := tls.Dial("tcp", upstream, upCfg)
				if err != nil {
					return
				}
				defer u.Close()
				go func() {
					_, _ = io.Copy(u, c) // the hop ends when either side closes
					_ = u.CloseWrite()
				}()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return ln, nil
}
