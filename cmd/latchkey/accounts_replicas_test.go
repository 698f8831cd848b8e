package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/devmode"
	"github.com/latchkey/latchkey/internal/store/postgres/pgtest"
)

// TestAccountKeysAcrossReplicas runs two latchkey processes on one PostgreSQL
// schema: a key regenerated through one is refused by the other on the very
// next call, with every token minted from it, and a rotation step taken
// through one is held back by a caller of the old key on the other.
func TestAccountKeysAcrossReplicas(t *testing.T) {
	dsn := os.Getenv("LATCHKEY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES not set; PostgreSQL replicas test skipped")
	}
	dsn = pgtest.FreshSchema(t, dsn)
	data := filepath.Join(t.TempDir(), "data")
	devProc := startCLI(t, nil, "dev", "--database", dsn, "--data", data, "--addr", "127.0.0.1:0")
	stopOnCleanup(t, devProc)
	waitDevJSON(t, devProc, data)
	info, err := devmode.ReadInfo(data)
	if err != nil {
		t.Fatal(err)
	}
	serveProc := startCLI(t, nil, "serve", "--database", dsn,
		"--tls-cert", filepath.Join(data, devmode.ServerFile), "--tls-key", filepath.Join(data, devmode.ServerKeyFile),
		"--master-key-file", filepath.Join(data, devmode.MasterKeyFile), "--addr", "127.0.0.1:0")
	stopOnCleanup(t, serveProc)
	urlB := "https://" + waitStarted(t, serveProc)

	hc := httpsClient(t, info.CACert)
	tokens := &client.ClientCredentials{TokenURL: client.TokenURL(info.AuthorityHost, info.TenantID),
		ClientID: info.Admin.ClientID, Secret: info.Admin.ClientSecret, HTTPClient: hc}
	a, b := client.New(info.URL, hc, tokens), client.New(urlB, hc, tokens)
	a2 := devData{api: a, hc: hc, url: info.URL}
	b2 := devData{api: b, hc: hc, url: urlB}
	ctx := t.Context()
	upstream := "http://127.0.0.1:9/v1"
	if _, _, err := a.CreateAccount(ctx, "default", "aoai", client.AccountRequest{Upstream: &client.AccountUpstreamRequest{URL: &upstream}}); err != nil {
		t.Fatal(err)
	}
	ks, err := a.ListKeys(ctx, "aoai")
	if err != nil {
		t.Fatal(err)
	}
	status, tok := b2.issueToken(t, "aoai", ks.Key1)
	if status != http.StatusOK {
		t.Fatalf("B's STS exchange with key1 of the account A created = %d %s", status, tok)
	}

	// key1 regenerated through A: B refuses it, and its token, at once.
	if _, err := a.RegenerateKey(ctx, "aoai", "key1"); err != nil {
		t.Fatal(err)
	}
	if status, body := b2.issueToken(t, "aoai", ks.Key1); status != http.StatusUnauthorized {
		t.Errorf("B, the key1 A just regenerated = %d %s; want 401", status, body)
	}
	if status := b2.call(t, "aoai", "Bearer "+tok); status != http.StatusUnauthorized {
		t.Errorf("B, a token of the key1 A just regenerated = %d; want 401", status)
	}
	if status, _ := b2.issueToken(t, "aoai", ks.Key2); status != http.StatusOK {
		t.Errorf("B, key2 = %d; want 200", status)
	}
	// key2 regenerated through B: A refuses it at once.
	if _, err := b.RegenerateKey(ctx, "aoai", "key2"); err != nil {
		t.Fatal(err)
	}
	if status, _ := a2.issueToken(t, "aoai", ks.Key2); status != http.StatusUnauthorized {
		t.Errorf("A, the key2 B just regenerated = %d; want 401", status)
	}

	// A rotation through A sees a use of key1 on B, which B has not written
	// yet (its flush is 10 s away).
	if st, err := a.RotateKeys(ctx, "aoai", client.RotateKeysRequest{QuietPeriod: "1h"}); err != nil || !st.Done {
		t.Fatalf("step 1 = %+v, %v", st, err)
	}
	ks, err = a.ListKeys(ctx, "aoai")
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := b2.issueToken(t, "aoai", ks.Key1); status != http.StatusOK {
		t.Fatalf("B, key1 = %d", status)
	}
	st, err := a.RotateKeys(ctx, "aoai", client.RotateKeysRequest{QuietPeriod: "1h"})
	if err != nil || st.Done || len(st.Held) != 1 || st.Held[0].Caller != "127.0.0.1" {
		t.Errorf("step 2 through A with key1 just used on B = %+v, %v; want it held, naming 127.0.0.1", st, err)
	}
}

// call makes a data-plane call with an Authorization header and returns its
// status (401 comes before the account's upstream is reached).
func (dd devData) call(t *testing.T, account, authorization string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, dd.url+"/accounts/"+account+"/v1/models", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	resp, err := dd.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
