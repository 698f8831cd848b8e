package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// target is where requests go and what they carry: every request of a run is
// the same.
type target struct {
	method string // GET or POST
	url    string
	form   string // the body of a POST, application/x-www-form-urlencoded
	json   string // or the body of a POST, application/json
	bearer string // sent as Authorization: Bearer; "" sends none
	// header, when set, is sent with headerValue (an api-key).
	header, headerValue string
	// want must appear in every good answer; wantName says what it is in an
	// error message, which never prints want itself.
	want     []byte
	wantName string
	roots    *x509.CertPool
	dial     dialFunc // nil dials the URL's host
}

// dialFunc opens a connection, as net.Dialer.DialContext does.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// tokenMarker appears in every good token response (and in the trivial server's answer).
var tokenMarker = []byte(`"access_token"`)

// send sends t's request with c, reads the whole answer and checks it,
// returning its length.
func (t target) send(ctx context.Context, c *http.Client) (int, error) {
	var body io.Reader
	switch {
	case t.form != "":
		body = strings.NewReader(t.form)
	case t.json != "":
		body = strings.NewReader(t.json)
	}
	req, err := http.NewRequestWithContext(ctx, t.method, t.url, body)
	if err != nil {
		return 0, err
	}
	switch {
	case t.form != "":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case t.json != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if t.header != "" {
		req.Header.Set(t.header, t.headerValue)
	}
	if t.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+t.bearer)
	}
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
	if !bytes.Contains(b, t.want) {
		return 0, fmt.Errorf("answer of %d bytes lacks %s", len(b), t.wantName)
	}
	return len(b), nil
}

// statusError is an answer other than 200 OK.
type statusError int

func (e statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", int(e), http.StatusText(int(e)))
}

// devInfo is the part of a dev server's dev.json that lkload reads (the file
// is written by internal/devmode; its field names are only ever added to).
type devInfo struct {
	URL           string `json:"url"`
	CACert        string `json:"caCert"`
	TenantID      string `json:"tenantId"`
	AuthorityHost string `json:"authorityHost"`
	Admin         *struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	} `json:"admin"`
	VaultURL string `json:"vaultUrl"`
}

// readDevInfo reads DIR/dev.json and checks that it names the token endpoint
// and the administrator's credentials.
func readDevInfo(dir string) (devInfo, error) {
	path := filepath.Join(dir, "dev.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return devInfo{}, fmt.Errorf("%w: start a dev server with `latchkey dev --data %s` first, or point --data at its folder", err, dir)
	}
	var info devInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return devInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	if info.AuthorityHost == "" || info.TenantID == "" || info.CACert == "" || info.Admin == nil || info.Admin.ClientID == "" {
		return devInfo{}, fmt.Errorf("%s lacks authorityHost, tenantId, caCert or admin credentials: restart the dev server to rewrite it", path)
	}
	return info, nil
}

// tokenURL is the dev server's Entra token endpoint.
func (info devInfo) tokenURL() (string, error) {
	u, err := url.JoinPath(info.AuthorityHost, info.TenantID, "oauth2/v2.0/token")
	if err != nil {
		return "", fmt.Errorf("dev.json: authorityHost %q: %w", info.AuthorityHost, err)
	}
	return u, nil
}

// tokenTarget reads DIR/dev.json and aims at the dev server's token endpoint
// with its administrator's client credentials.
func tokenTarget(dir string) (target, error) {
	info, err := readDevInfo(dir)
	if err != nil {
		return target{}, err
	}
	tokenURL, err := info.tokenURL()
	if err != nil {
		return target{}, err
	}
	roots, err := loadRoots(info.CACert)
	if err != nil {
		return target{}, err
	}
	form := tokenForm(info.Admin.ClientID, info.Admin.ClientSecret, azureVaultScope)
	return target{method: http.MethodPost, url: tokenURL, form: form, want: tokenMarker, wantName: "an access_token field", roots: roots}, nil
}

// baselineTarget aims at any HTTPS URL with requests the size and shape of
// mode like's, so that only the server differs between the two runs:
//   - token: a POST of a client_credentials form with a GUID client id and a
//     43-character secret, as Latchkey issues them;
//   - secret: a GET with a bearer token of bearerBytes characters (the script
//     passes the size of the dev server's vault token); give the URL the
//     secret's path and query, so that the request line is the same size too.
func baselineTarget(rawURL, caFile, like string, bearerBytes int) (target, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return target{}, fmt.Errorf("--url %q is not an https URL: give one like https://127.0.0.1:18444/", rawURL)
	}
	if caFile == "" {
		return target{}, fmt.Errorf("--ca is missing: give the PEM file of the CA that signed %s's certificate", u.Host)
	}
	roots, err := loadRoots(caFile)
	if err != nil {
		return target{}, err
	}
	t := target{url: u.String(), want: tokenMarker, wantName: "an access_token field", roots: roots}
	switch like {
	case "token":
		t.method = http.MethodPost
		t.form = tokenForm("00000000-0000-0000-0000-000000000000", strings.Repeat("x", 43), azureVaultScope)
	case "secret":
		if bearerBytes < 1 {
			return target{}, fmt.Errorf("--bearer-bytes %d: give the length of a vault token, as lkload secret prints it", bearerBytes)
		}
		t.method = http.MethodGet
		t.bearer = strings.Repeat("x", bearerBytes)
	default:
		return target{}, fmt.Errorf("--like %q: give token or secret", like)
	}
	return t, nil
}

// azureVaultScope is the scope MSAL asks for by default for Key Vault.
const azureVaultScope = "https://vault.azure.net/.default"

// tokenForm is a client_credentials request for a token for scope, as MSAL sends it.
func tokenForm(clientID, secret, scope string) string {
	return url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
		"scope": {scope},
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
