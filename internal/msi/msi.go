// Package msi serves the App Service managed identity protocol on loopback, so
// that a local process using the Azure SDKs' ManagedIdentityCredential (or
// DefaultAzureCredential) gets tokens for a Latchkey managed identity without
// ever holding a credential. `latchkey run` and `latchkey agent` use it.
//
// The protocol (see the shared azure-compat reference, section 3.2): GET
// {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=R[&client_id=...] with
// header X-IDENTITY-HEADER: {IDENTITY_HEADER}; the answer is JSON with
// access_token and expires_on (unix seconds, as a string).
//
// msi is an adapter: it imports no domain package. Tokens come from a
// TokenSource, which the caller backs with the management API.
package msi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Token is an access token for one resource.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
	ClientID    string // the managed identity's client id
}

// TokenSource gets a token for the identity with audience resource.
type TokenSource func(ctx context.Context, resource string) (Token, error)

// refreshBefore is how long before expiry a cached token is replaced.
const refreshBefore = 5 * time.Minute

// Server is a loopback managed identity endpoint for one identity. It is safe
// for concurrent use.
type Server struct {
	clientID string
	header   string
	tokens   TokenSource
	log      *slog.Logger
	now      func() time.Time
	srv      *http.Server
	addr     string
	served   chan struct{} // closed when the serving goroutine has returned

	mu    sync.Mutex // guards cache
	cache map[string]Token
}

// Options configure a Server.
type Options struct {
	// ClientID is the identity's client id; a request naming another client_id
	// is refused, so a process cannot mistake which identity it has.
	ClientID string
	Tokens   TokenSource
	Logger   *slog.Logger
	Now      func() time.Time
}

// Listen starts a Server on addr (use 127.0.0.1:0) with a fresh random
// IDENTITY_HEADER secret.
func Listen(addr string, opts Options) (*Server, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		clientID: opts.ClientID, header: hex.EncodeToString(b[:]), tokens: opts.Tokens,
		log: opts.Logger, now: opts.Now, cache: map[string]Token{}, addr: ln.Addr().String(),
		served: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /msi/token", s.serveToken)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("managed identity endpoint stopped", "err", err)
		}
	}()
	return s, nil
}

// ClientID is the client id of the identity this endpoint serves.
func (s *Server) ClientID() string { return s.clientID }

// Endpoint is the value of IDENTITY_ENDPOINT.
func (s *Server) Endpoint() string { return "http://" + s.addr + "/msi/token" }

// Env returns the environment variables that point the Azure SDKs at this
// endpoint. IDENTITY_HEADER is a secret shared with the child process only.
func (s *Server) Env() []string {
	return []string{"IDENTITY_ENDPOINT=" + s.Endpoint(), "IDENTITY_HEADER=" + s.header}
}

// Close stops the server and waits for it.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.served
	return err
}

type tokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

type errorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(s.header)) != 1 {
		writeJSON(w, http.StatusUnauthorized, errorBody{401, "X-IDENTITY-HEADER is missing or wrong: use the IDENTITY_HEADER given to this process"})
		return
	}
	q := r.URL.Query()
	resource := strings.TrimSuffix(q.Get("resource"), "/.default")
	if resource == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{400, "the resource query parameter is required, such as resource=https://vault.azure.net"})
		return
	}
	if id := q.Get("client_id"); id != "" && !strings.EqualFold(id, s.clientID) && s.clientID != "" {
		writeJSON(w, http.StatusBadRequest, errorBody{400, "client_id " + id + " is not the identity this endpoint serves (" + s.clientID + ")"})
		return
	}
	tok, err := s.token(r.Context(), resource)
	if err != nil {
		s.log.Warn("managed identity token request failed", "resource", resource, "err", err)
		writeJSON(w, http.StatusBadGateway, errorBody{502, "Latchkey did not issue a token: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, tokenBody{
		AccessToken: tok.AccessToken, ExpiresOn: strconv.FormatInt(tok.ExpiresOn.Unix(), 10),
		Resource: resource, TokenType: "Bearer", ClientID: tok.ClientID,
	})
}

// token returns a cached token for resource, or a new one.
func (s *Server) token(ctx context.Context, resource string) (Token, error) {
	s.mu.Lock()
	t, ok := s.cache[resource]
	s.mu.Unlock()
	if ok && s.now().Add(refreshBefore).Before(t.ExpiresOn) {
		return t, nil
	}
	t, err := s.tokens(ctx, resource)
	if err != nil {
		return Token{}, err
	}
	s.mu.Lock()
	s.cache[resource] = t
	s.mu.Unlock()
	return t, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
