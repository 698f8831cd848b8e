// Command lkload puts load on a Latchkey server from a process of its own and
// reports requests per second and latency percentiles. Each connection is a
// worker with its own HTTP/1.1 keep-alive client that sends its next request
// as soon as the last one is answered (a closed loop).
//
// Modes:
//
//	lkload token    [--data DIR]              client_credentials token requests to a dev server
//	lkload secret   [--data DIR]              GETs of a 100-byte secret from the dev server's default vault
//	lkload baseline --url URL --ca FILE       requests of the same shape to any HTTPS server (bench/trivialserver)
//	lkload chat     --url URL --ca FILE --key KEY [--header api-key|authorization] [--stream]
//	                                          OpenAI chat completions to the gateway, or to the upstream directly
//
// All take --connections, --duration, --warmup and --probe, and print one line
// starting "result:" of key=value pairs (with --probe, one line starting
// "probe:" after a single request). The exit code is 1 when any request
// failed. lkload imports only the standard library; bench/README.md explains
// how to read its figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usage = `usage:
  lkload token    [--data DIR] [flags]           token requests to the dev server described by DIR/dev.json
  lkload secret   [--data DIR] [flags]           secret GETs from that dev server's default vault
  lkload baseline --url URL --ca FILE [flags]    requests shaped like token's to another HTTPS server
         [--like secret --bearer-bytes N]        ... or like secret's: GETs with an N-character bearer token
  lkload chat     --url URL --ca FILE --key KEY  OpenAI chat completions (JSON) to the gateway or its upstream
         [--header api-key|authorization]        ... the key in api-key (default) or as a bearer token
         [--stream]                              ... asking for a stream of server-sent events, read to its end

flags:
  --connections N   workers, each with its own keep-alive connection (default 16)
  --duration D      how long to measure (default 10s)
  --warmup D        how long to send requests before measuring (default 1s)
  --probe           send one request, print the sizes of the answer and the token, and stop
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
	probe := fs.Bool("probe", false, "send one request, print the sizes of the answer and the token, and stop")
	var t target
	var err error
	switch mode {
	case "token":
		data := fs.String("data", ".latchkey", "dev server data folder holding dev.json")
		if err := fs.Parse(args); err != nil {
			return err
		}
		t, err = tokenTarget(*data)
	case "secret":
		data := fs.String("data", ".latchkey", "dev server data folder holding dev.json")
		if err := fs.Parse(args); err != nil {
			return err
		}
		t, err = secretTarget(ctx, *data)
	case "baseline":
		rawURL := fs.String("url", "", "URL of the server to compare with, like https://127.0.0.1:18444/")
		ca := fs.String("ca", "", "PEM file of the CA that signed the server's certificate")
		like := fs.String("like", "token", "shape of the requests: token (a form POST) or secret (a GET with a bearer token)")
		bearerBytes := fs.Int("bearer-bytes", 0, "with --like secret: the bearer token's length, as lkload secret --probe prints it")
		if err := fs.Parse(args); err != nil {
			return err
		}
		t, err = baselineTarget(*rawURL, *ca, *like, *bearerBytes)
	case "chat":
		rawURL := fs.String("url", "", "URL of the chat completions endpoint, like https://127.0.0.1:18446/accounts/bench/v1/chat/completions")
		ca := fs.String("ca", "", "PEM file of the CA that signed the server's certificate")
		header := fs.String("header", "api-key", "the header carrying --key: api-key, or authorization (as a bearer token)")
		key := fs.String("key", "", "the key the server expects")
		stream := fs.Bool("stream", false, "ask for a stream of server-sent events, with the usage chunk")
		if err := fs.Parse(args); err != nil {
			return err
		}
		t, err = chatTarget(*rawURL, *ca, *header, *key, *stream)
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown mode %q: use token, secret, baseline or chat", mode)
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
	o.NewClient = newClientFunc(t.roots, t.dial)
	return measure(ctx, stdout, mode, t, o, *probe)
}

// measure checks the target with one request and, unless probeOnly, runs the
// load and prints the result.
func measure(ctx context.Context, stdout io.Writer, mode string, t target, o Options, probeOnly bool) error {
	c := o.NewClient()
	n, err := t.send(ctx, c)
	c.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("first request to %s: %w", t.url, err)
	}
	if probeOnly {
		fmt.Fprintf(stdout, "probe: mode=%s answer_bytes=%d bearer_bytes=%d\n", mode, n, len(t.bearer))
		return nil
	}
	fmt.Fprintf(stdout, "lkload %s: %s %s, %d connections, %s after a %s warm-up; answers are %d bytes\n",
		mode, t.method, t.url, o.Connections, o.Duration, o.Warmup, n)
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
