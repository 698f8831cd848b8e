package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// devServer is a stand-in for latchkey dev's token endpoint and vault data
// plane, enough for mode secret: it checks what lkload sends and records the
// hosts and TLS server names it was reached by.
type devServer struct {
	ts    *httptest.Server
	dir   string // holds dev.json and ca.pem
	vault string // the vault's URL, https://default.example.com:PORT

	mu      sync.Mutex // guards the fields below
	scopes  []string   // asked for at the token endpoint
	value   string     // the secret, as last set
	hosts   map[string]int
	snis    map[string]int
	methods map[string]int
}

// newDevServer starts the stand-in and writes its dev.json. httptest's
// certificate covers *.example.com, so the vault lives at default.example.com
// (no DNS needed: lkload's dialer sends it to the server).
func newDevServer(t *testing.T) *devServer {
	t.Helper()
	s := &devServer{hosts: map[string]int{}, snis: map[string]int{}, methods: map[string]int{}}
	s.ts = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	port := s.ts.URL[strings.LastIndex(s.ts.URL, ":")+1:]
	s.vault = "https://default.example.com:" + port
	s.dir = t.TempDir()
	ca := filepath.Join(s.dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	info := map[string]any{
		"url": s.ts.URL, "caCert": ca, "tenantId": "tenant", "authorityHost": s.ts.URL + "/",
		"admin": map[string]string{"clientId": "admin-id", "clientSecret": "admin-secret"}, "vaultUrl": s.vault,
	}
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "dev.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *devServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hosts[r.Host]++
	s.snis[r.TLS.ServerName]++
	s.methods[r.Method]++
	s.mu.Unlock()
	if r.URL.Path == "/tenant/oauth2/v2.0/token" {
		if r.FormValue("client_id") != "admin-id" || r.FormValue("client_secret") != "admin-secret" {
			http.Error(w, "bad client", http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		s.scopes = append(s.scopes, r.FormValue("scope"))
		s.mu.Unlock()
		w.Write([]byte(`{"access_token":"vault-token"}`))
		return
	}
	if r.URL.Path != "/secrets/bench" || r.URL.Query().Get("api-version") == "" || r.Header.Get("Authorization") != "Bearer vault-token" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodPut:
		var p struct{ Value string }
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.value = p.Value
		s.mu.Unlock()
		w.Write([]byte(`{}`))
	case http.MethodGet:
		s.mu.Lock()
		v := s.value
		s.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{"value": v, "id": s.vault + "/secrets/bench/1"})
	}
}

// TestSecretMode: lkload secret asks for a token for the vault's resource,
// sets a 100-byte secret once, and GETs it by the vault's own host name.
func TestSecretMode(t *testing.T) {
	s := newDevServer(t)
	var out bytes.Buffer
	err := run(t.Context(), []string{"secret", "--data", s.dir, "--connections", "2", "--duration", "100ms", "--warmup", "0s"}, &out)
	if err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), " errors=0 ") || strings.Contains(out.String(), " ok=0 ") {
		t.Errorf("output %q, want good answers and no errors", out.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _ := url.Parse(s.vault)
	if want := "https://example.com:" + u.Port() + "/.default"; len(s.scopes) != 1 || s.scopes[0] != want {
		t.Errorf("token scopes = %q, want one for %q", s.scopes, want)
	}
	if len(s.value) != 100 || s.methods[http.MethodPut] != 1 {
		t.Errorf("secret set %d times to %d bytes, want once to 100", s.methods[http.MethodPut], len(s.value))
	}
	if s.hosts[u.Host] < 2 || s.snis["default.example.com"] < 2 {
		t.Errorf("hosts %v, TLS server names %v: want the GETs sent to %s", s.hosts, s.snis, u.Host)
	}
}

// TestProbe: --probe prints the sizes the script hands to the trivial server.
func TestProbe(t *testing.T) {
	s := newDevServer(t)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"secret", "--data", s.dir, "--probe"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "probe: mode=secret answer_bytes=") || !strings.Contains(out.String(), " bearer_bytes=11\n") {
		t.Errorf("output %q, want a probe line with the 11-byte bearer", out.String())
	}
}

// TestBaselineLikeSecret: the yardstick's requests are GETs with a bearer of
// the asked size.
func TestBaselineLikeSecret(t *testing.T) {
	var mu sync.Mutex // guards seen
	seen := map[string]int{}
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")]++
		mu.Unlock()
		w.Write([]byte(`{"token_type":"Bearer","access_token":"xx"}`))
	}))
	t.Cleanup(ts.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	args := []string{"baseline", "--url", ts.URL + "/secrets/bench?api-version=7.5", "--ca", ca, "--like", "secret", "--bearer-bytes", "5",
		"--connections", "1", "--duration", "50ms", "--warmup", "0s"}
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen["GET /secrets/bench?api-version=7.5 Bearer xxxxx"] == 0 {
		t.Errorf("requests %v, want only GETs with a 5-byte bearer", seen)
	}
}
