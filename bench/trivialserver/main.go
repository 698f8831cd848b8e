// Command trivialserver is the yardstick for bench/lkload: an HTTPS server that
// does nothing but read the request and answer with a fixed body, so that a
// Latchkey figure can be read against what Go's net/http and crypto/tls cost
// on the same machine in the same run. It uses the same TLS certificate as
// the dev server (from its data folder), the same TLS and timeout settings as
// latchkey serve, and runs in a process of its own, as Latchkey does.
//
//	trivialserver --data .latchkey --addr 127.0.0.1:18444 --size 850
//
// Its answer is a JSON object with an "access_token" field padded to --size
// bytes, which lkload baseline checks for. It imports only the standard library.
package main

import (
	"context"
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
		fmt.Fprintf(os.Stderr, "trivialserver: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("trivialserver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18444", "address to listen on")
	data := fs.String("data", ".latchkey", "dev server data folder: server.pem and server-key.pem are used")
	size := fs.Int("size", 850, "bytes in each answer (a Key Vault token response is about 850)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	body, err := answer(*size)
	if err != nil {
		return err
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
		Handler:           handler(body),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	fmt.Fprintf(os.Stderr, "trivialserver: https://%s/ answers %d bytes\n", ln.Addr(), len(body))
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

// handler reads the whole request body, as a form-parsing handler would, and
// answers body with the headers of a token response.
func handler(body []byte) http.Handler {
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", length)
		w.Write(body)
	})
}

// answer is a JSON object of size bytes with an "access_token" field.
func answer(size int) ([]byte, error) {
	const frame = `{"token_type":"Bearer","access_token":""}`
	if size < len(frame) {
		return nil, fmt.Errorf("--size %d is too small: give at least %d", size, len(frame))
	}
	pad := strings.Repeat("x", size-len(frame))
	return []byte(`{"token_type":"Bearer","access_token":"` + pad + `"}`), nil
}
