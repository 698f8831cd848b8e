package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

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
}

// tokenTarget reads DIR/dev.json and aims at the dev server's token endpoint
// with its administrator's client credentials.
func tokenTarget(dir string) (target, error) {
	path := filepath.Join(dir, "dev.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return target{}, fmt.Errorf("%w: start a dev server with `latchkey dev --data %s` first, or point --data at its folder", err, dir)
	}
	var info devInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return target{}, fmt.Errorf("read %s: %w", path, err)
	}
	if info.AuthorityHost == "" || info.TenantID == "" || info.CACert == "" || info.Admin == nil || info.Admin.ClientID == "" {
		return target{}, fmt.Errorf("%s lacks authorityHost, tenantId, caCert or admin credentials: restart the dev server to rewrite it", path)
	}
	tokenURL, err := url.JoinPath(info.AuthorityHost, info.TenantID, "oauth2/v2.0/token")
	if err != nil {
		return target{}, fmt.Errorf("%s: authorityHost %q: %w", path, info.AuthorityHost, err)
	}
	roots, err := loadRoots(info.CACert)
	if err != nil {
		return target{}, err
	}
	return target{url: tokenURL, body: tokenForm(info.Admin.ClientID, info.Admin.ClientSecret), roots: roots}, nil
}

// baselineTarget aims at any HTTPS URL with a request the size and shape of a
// token request (a GUID client id and a 43-character secret, as Latchkey
// issues them), so that only the server differs between the two modes.
func baselineTarget(rawURL, caFile string) (target, error) {
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
	form := tokenForm("00000000-0000-0000-0000-000000000000", strings.Repeat("x", 43))
	return target{url: u.String(), body: form, roots: roots}, nil
}
