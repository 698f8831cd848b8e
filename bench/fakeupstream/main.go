// Command fakeupstream stands in for an AI provider in the gateway's load
// figures: an HTTPS server speaking the part of the OpenAI API the gateway
// forwards, with answers of a typical size and their usage, so that a call
// through Latchkey's gateway can be read against the same call made to it
// directly. It uses the dev server's TLS certificate (from its data folder)
// and the same TLS and timeout settings as latchkey serve, and runs in a
// process of its own.
//
//	fakeupstream --data .latchkey --addr 127.0.0.1:18445 --key sk-bench-upstream
//
// POST .../chat/completions (and .../completions) answers a fixed chat
// completion of 448 bytes with its usage; a body holding "stream":true gets a
// stream of server-sent events instead: 8 content chunks, the usage chunk and
// [DONE], each flushed on its own (--pace spaces them). Every call must carry
// the upstream's key (Authorization: Bearer KEY, or api-key: KEY), so a
// gateway that forgot to inject it, or passed the caller's, fails the run.
// It imports only the standard library.
package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "fakeupstream: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fakeupstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18445", "address to listen on")
	data := fs.String("data", ".latchkey", "dev server data folder: server.pem and server-key.pem are used")
	key := fs.String("key", "sk-bench-upstream", "the key every call must carry")
	pace := fs.Duration("pace", 0, "time between a stream's events (0: back to back)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *key == "" || *pace < 0 {
		return fmt.Errorf("--key %q, --pace %s: give a key and a pace of 0 or more", *key, *pace)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(*data, "server.pem"), filepath.Join(*data, "server-key.pem"))
	if err != nil {
		return fmt.Errorf("TLS certificate: %w: point --data at a folder where latchkey dev has run", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w: choose another --addr", err)
	}
	srv := &http.Server{
		Handler:           handler(*key, *pace),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	fmt.Fprintf(os.Stderr, "fakeupstream: https://%s/v1 answers chat completions\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// answer is a chat completion of typical size with its usage.
var answer = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-08-06",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},` +
	`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18,` +
	`"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_bench"}`)

// events is a streamed chat completion: 8 content chunks, the usage chunk
// (sent because lkload asks for stream_options.include_usage) and [DONE].
var events = func() [][]byte {
	var out [][]byte
	for _, w := range []string{"Hello", "!", " How", " can", " I", " help", " you", " today?"} {
		out = append(out, fmt.Appendf(nil, `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,`+
			`"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}],"usage":null}`+"\n\n", w))
	}
	return append(out, []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,`+
		`"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":8,"total_tokens":17}}`+"\n\n"),
		[]byte("data: [DONE]\n\n"))
}()

// handler answers chat completions and completions for callers with key.
func handler(key string, pace time.Duration) http.Handler {
	length := strconv.Itoa(len(answer))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", "the request body is over 1 MiB")
			return
		}
		if !hasKey(r, key) {
			writeError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided.")
			return
		}
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/completions") {
			writeError(w, http.StatusNotFound, "unknown_url", "Unknown request URL: "+r.Method+" "+r.URL.Path)
			return
		}
		if !bytes.Contains(body, []byte(`"stream":true`)) {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", length)
			w.Write(answer)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for i, e := range events {
			if i > 0 && pace > 0 {
				time.Sleep(pace)
			}
			if _, err := w.Write(e); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	})
}

// hasKey reports whether r carries key as a bearer token or an api-key.
func hasKey(r *http.Request, key string) bool {
	got := r.Header.Get("Api-Key")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = bearer
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","param":null,"code":%q}}`, message, code)
}
