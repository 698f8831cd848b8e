// Command lkload puts load on a Latchkey server from a process of its own and
// reports requests per second and latency percentiles. Each connection is a
// worker with its own HTTP/1.1 keep-alive client that sends its next request
// as soon as the last one is answered (a closed loop).
//
// Modes:
//
//	lkload token    [--data DIR]              client_credentials token requests to a dev server
//	lkload baseline --url URL --ca FILE       the same requests to any HTTPS server (bench/trivialserver)
//
// Both take --connections, --duration and --warmup, and print one line
// starting "result:" of key=value pairs. The exit code is 1 when any request
// failed. lkload imports only the standard library; bench/README.md explains
// how to read its figures.
package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `usage:
  lkload token    [--data DIR] [flags]           token requests to the dev server described by DIR/dev.json
  lkload baseline --url URL --ca FILE [flags]    the same requests to another HTTPS server

flags:
  --connections N   workers, each with its own keep-alive connection (default 16)
  --duration D      how long to measure (default 10s)
  --warmup D        how long to send requests before measuring (default 1s)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "lkload: %v\n", err)
		os.Exit(1)
	}
}

// errUsage reports a mistake on the command line.
var errUsage = errors.New("see the usage above")

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errUsage
	}
	mode, args := args[0], args[1:]
	fs := flag.NewFlagSet("lkload "+mode, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	o := Options{}
	fs.IntVar(&o.Connections, "connections", 16, "workers, each with its own keep-alive connection")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to measure")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "how long to send requests before measuring")
	var t target
	var err error
	switch mode {
	case "token":
		data := fs.String("data", ".latchkey", "dev server data folder holding dev.json")
		if err := fs.Parse(args); err != nil {
			return err
		}
		t, err = tokenTarget(*data)
	case "baseline":
		rawURL := fs.String("url", "", "URL of the server to compare with, like https://127.0.0.1:18444/")
		ca := fs.String("ca", "", "PEM file of the CA that signed the server's certificate")
		if err := fs.Parse(args); err != nil {
			return err
		}
		t, err = baselineTarget(*rawURL, *ca)
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown mode %q: use token or baseline", mode)
	}
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	if o.Connections < 1 || o.Duration <= 0 || o.Warmup < 0 {
		return fmt.Errorf("--connections %d, --duration %s and --warmup %s: give at least 1 connection, a positive duration and a warm-up of 0 or more", o.Connections, o.Duration, o.Warmup)
	}
	o.NewClient = newClientFunc(t.roots)
	return measure(ctx, stdout, mode, t, o)
}

// measure checks the target with one request, runs the load and prints the result.
func measure(ctx context.Context, stdout io.Writer, mode string, t target, o Options) error {
	probe := o.NewClient()
	n, err := t.send(ctx, probe)
	probe.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("first request to %s: %w", t.url, err)
	}
	fmt.Fprintf(stdout, "lkload %s: POST %s, %d connections, %s after a %s warm-up; answers are %d bytes\n",
		mode, t.url, o.Connections, o.Duration, o.Warmup, n)
	r := Run(ctx, o, func(ctx context.Context, c *http.Client) error {
		_, err := t.send(ctx, c)
		return err
	})
	fmt.Fprintf(stdout, "result: mode=%s %s\n", mode, r)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if r.Errors > 0 {
		hint := ""
		if _, throttled := r.ErrorSamples[statusError(http.StatusTooManyRequests).Error()]; throttled {
			hint = "\nthe server throttles token requests: start it with --token-rate-per-client off --token-rate-per-address off"
		}
		return fmt.Errorf("%d of %d requests failed:\n%s%s", r.Errors, r.Errors+r.OK, errorReport(r), hint)
	}
	return nil
}

// target is where requests go and what they carry.
type target struct {
	url   string
	body  string // application/x-www-form-urlencoded
	roots *x509.CertPool
}

// marker must appear in every good answer: the field of a token response.
var marker = []byte(`"access_token"`)

// send posts t's body with c, reads the whole answer and checks it, returning
// its length.
func (t target) send(ctx context.Context, c *http.Client) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(t.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, statusError(resp.StatusCode)
	}
	if !bytes.Contains(b, marker) {
		return 0, fmt.Errorf("answer of %d bytes has no %s", len(b), marker)
	}
	return len(b), nil
}

// statusError is an answer other than 200 OK.
type statusError int

func (e statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", int(e), http.StatusText(int(e)))
}

// tokenForm is a client_credentials request for a Key Vault token, as MSAL sends it.
func tokenForm(clientID, secret string) string {
	return url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
		"scope": {"https://vault.azure.net/.default"},
	}.Encode()
}

// loadRoots reads a PEM file of CA certificates.
func loadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return roots, nil
}
