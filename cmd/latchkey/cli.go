package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/devmode"
)

// This file is the plumbing the CLI's management commands share: finding the
// server, signing in to it, and printing answers.

// defaultDevData is where `latchkey dev` keeps its files unless --data.
const defaultDevData = ".latchkey"

// errNoServer is the answer when nothing says which server to talk to.
var errNoServer = errors.New("no server: start one with `latchkey dev`, or give --server and --ca-cert, or latchkey login")

// serverFlags say which server a command talks to.
type serverFlags struct {
	server string // --server, LATCHKEY_URL
	caCert string // --ca-cert, LATCHKEY_CA_CERT
	data   string // --data, LATCHKEY_DATA: a dev server's data folder
}

// addServerFlags registers the server flags on cmd and its subcommands.
func addServerFlags(cmd *cobra.Command) *serverFlags {
	f := &serverFlags{}
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.server, "server", "", "URL of the Latchkey server (env LATCHKEY_URL; default: the server of latchkey login, else the dev server)")
	fs.StringVar(&f.caCert, "ca-cert", "", "PEM file of the CA that signed the server's certificate (env LATCHKEY_CA_CERT)")
	fs.StringVar(&f.data, "data", "", "data folder of the dev server whose dev.json to use (env LATCHKEY_DATA; default ./.latchkey)")
	return f
}

// target is a server and what the CLI knows to reach it.
type target struct {
	url           string
	caCert        string // "" trusts the system's roots
	tenantID      string
	authorityHost string
	dev           *devmode.Info // the dev server's dev.json, when url is one
}

// resolve finds the server: --server or LATCHKEY_URL; else the dev server of
// --data; else the one of latchkey login; else the dev server in ./.latchkey.
// It reads what it can about that server from dev.json and the login cache.
func (f *serverFlags) resolve(e *env, cache *authCache) (target, error) {
	t := target{url: firstOf(f.server, e.getenv("LATCHKEY_URL")), caCert: firstOf(f.caCert, e.getenv("LATCHKEY_CA_CERT"))}
	if data := firstOf(f.data, e.getenv("LATCHKEY_DATA")); data != "" {
		info, err := devmode.ReadInfo(data)
		if err != nil {
			return t, err
		}
		t.dev = &info
	}
	if t.url == "" && t.dev != nil {
		t.url = t.dev.URL
	}
	if t.url == "" && cache != nil {
		t.url = cache.Server
	}
	if t.dev == nil {
		if info, err := devmode.ReadInfo(defaultDevData); err == nil && (t.url == "" || sameServer(info.URL, t.url)) {
			t.dev = &info
		}
	}
	if t.url == "" && t.dev != nil {
		t.url = t.dev.URL
	}
	if t.url == "" {
		return t, errNoServer
	}
	t.url = strings.TrimRight(t.url, "/")
	if t.dev != nil && !sameServer(t.dev.URL, t.url) {
		t.dev = nil
	}
	switch {
	case cache != nil && sameServer(cache.Server, t.url):
		t.caCert, t.tenantID, t.authorityHost = firstOf(t.caCert, cache.CACert), cache.TenantID, cache.AuthorityHost
	case t.dev != nil:
		t.caCert, t.tenantID, t.authorityHost = firstOf(t.caCert, t.dev.CACert), t.dev.TenantID, t.dev.AuthorityHost
	}
	if t.authorityHost == "" {
		t.authorityHost = t.url + "/" // the server is its own authority
	}
	return t, nil
}

// connect returns a client of the server, signed in as the login cache says
// or, on a dev server nobody logged in to, as the dev admin.
func (f *serverFlags) connect(e *env) (*client.Client, error) {
	cl, _, err := f.connectTarget(e)
	return cl, err
}

// connectTarget is connect that also tells which server it reached.
func (f *serverFlags) connectTarget(e *env) (*client.Client, target, error) {
	cache, err := loadAuth()
	if err != nil {
		return nil, target{}, err
	}
	t, err := f.resolve(e, cache)
	if err != nil {
		return nil, t, err
	}
	hc, err := httpClient(t.caCert)
	if err != nil {
		return nil, t, err
	}
	var tokens client.TokenSource
	switch {
	case cache != nil && sameServer(cache.Server, t.url):
		tokens, err = cache.tokens(hc)
	case t.dev != nil && t.dev.Admin != nil:
		tokens = &client.ClientCredentials{
			TokenURL: client.TokenURL(t.authorityHost, t.tenantID), ClientID: t.dev.Admin.ClientID,
			Secret: t.dev.Admin.ClientSecret, HTTPClient: hc,
		}
	case t.dev != nil:
		err = fmt.Errorf("the dev.json of %s names no admin: restart `latchkey dev` with this version, or latchkey login", t.url)
	default:
		err = fmt.Errorf("not signed in to %s: run latchkey login --server %s --tenant TENANT -u NAME", t.url, t.url)
	}
	if err != nil {
		return nil, t, err
	}
	return client.New(t.url, hc, tokens), t, nil
}

// httpClient trusts the CA in caPath, or the system's roots when caPath is "".
func httpClient(caPath string) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPath != "" {
		pem, err := os.ReadFile(caPath)
		if err != nil {
			return nil, fmt.Errorf("read the CA certificate: %w: give the PEM file of the CA that signed the server's certificate with --ca-cert", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate: give the CA certificate with --ca-cert", caPath)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}, nil
}

// sameServer compares server URLs, ignoring a trailing slash and case.
func sameServer(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// absPath makes a path absolute, so a cache stays right from any folder.
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// addOutputFlag registers --output/-o with its default and returns where it lands.
func addOutputFlag(cmd *cobra.Command, def string) *string {
	out := new(string)
	cmd.Flags().StringVarP(out, "output", "o", def, "output format: json or table")
	return out
}

// table is a printable table: a header and rows of cells.
type table struct {
	header []string
	rows   [][]string
}

// render prints v as indented JSON, or tab as a table, as format asks.
func render(w io.Writer, format string, v any, tab table) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(tab.header, "\t"))
		dashes := make([]string, len(tab.header))
		for i, h := range tab.header {
			dashes[i] = strings.Repeat("-", len(h))
		}
		fmt.Fprintln(tw, strings.Join(dashes, "\t"))
		for _, r := range tab.rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
	return fmt.Errorf("--output %q is not a format: use json or table", format)
}

// when prints a time for a table.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
