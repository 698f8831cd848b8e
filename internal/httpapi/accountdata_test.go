package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/gateway"
	"github.com/latchkey/latchkey/internal/httpapi"
)

// upstream is a small OpenAI-compatible provider on loopback, the one fake
// of these tests: it answers chat completions (as JSON, or as a stream of
// server-sent events when asked) and lists models, and remembers the
// headers and model of every call.
type upstream struct {
	*httptest.Server
	// hold, when set, holds a stream after its first event until it is
	// closed: a client that gets the first event meanwhile was not buffered.
	hold  chan struct{}
	mu    sync.Mutex // guards calls
	calls []upstreamCall
}

// upstreamCall is what the upstream saw of one call.
type upstreamCall struct {
	path, model string
	header      http.Header
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

// chunk is one event of a streamed chat completion.
const chunk = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":%q,"choices":[{"index":0,"delta":{"content":%q}}]}`

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &req)
	u.mu.Lock()
	u.calls = append(u.calls, upstreamCall{path: r.URL.Path, model: req.Model, header: r.Header.Clone()})
	u.mu.Unlock()
	switch {
	case r.URL.Path == "/v1/models":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"test"}]}`)
	case r.URL.Path == "/v1/chat/completions" && req.Stream:
		w.Header().Set("Content-Type", "text/event-stream")
		for i, part := range []string{"Hel", "lo"} {
			if i == 1 && u.hold != nil {
				select {
				case <-u.hold:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: "+chunk+"\n\n", req.Model, part)
			w.(http.Flusher).Flush()
		}
		fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[],"+
			"\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\ndata: [DONE]\n\n", req.Model)
	case r.URL.Path == "/v1/chat/completions":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`, req.Model)
	default:
		http.Error(w, `{"error":{"message":"not here"}}`, http.StatusNotFound)
	}
}

// seen returns every call the upstream saw.
func (u *upstream) seen() []upstreamCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upstreamCall(nil), u.calls...)
}

// TestAccountsDataPlaneAuth: a call with either key (in either header), an
// STS token, or an Entra token of a principal with the account's data
// action, for Azure's audience or Latchkey's, reaches the upstream, which
// sees only its own key; everything else is refused before it.
func TestAccountsDataPlaneAuth(t *testing.T) {
	up := newUpstream(t)
	gw := gateway.New(gateway.Options{})
	e := newKVEnv(t, newFakeClock(), gw)
	e.createAccount("aoai", up.URL+"/v1", "sk-upstream-only")
	ctx := context.Background()
	ks, err := e.managementClient(e.admin).ListKeys(ctx, "aoai")
	if err != nil {
		t.Fatal(err)
	}
	sts := string(e.sts("aoai", "Ocp-Apim-Subscription-Key", ks.Key1).body)
	user := e.principal("app", grant{"Cognitive Services User", "/hubs/default/accounts/aoai"})
	other := e.principal("other", grant{"Cognitive Services User", "/hubs/default/accounts/elsewhere"})
	const call = `{"model":"gpt","messages":[]}`
	cases := []struct {
		name, path string
		header     []string
		status     int
		code       string // for errors
		caller     string // the caller key the gateway was given
	}{
		{"api-key key1", "/v1/chat/completions", []string{"api-key", ks.Key1}, 200, "", "key1"},
		{"Azure path, deployment", "/openai/deployments/gpt/chat/completions?api-version=2024-10-21", []string{"api-key", ks.Key1}, 200, "", "key1"},
		{"Ocp-Apim-Subscription-Key key2", "/openai/deployments/gpt/chat/completions?api-version=2024-10-21", []string{"Ocp-Apim-Subscription-Key", ks.Key2}, 200, "", "key2"},
		{"STS token", "/v1/chat/completions", []string{"Authorization", "Bearer " + sts}, 200, "", "key1"},
		{"Entra token, Azure's audience", "/v1/chat/completions", []string{"Authorization", "Bearer " + e.token(user, "https://cognitiveservices.azure.com")}, 200, "", "principal:" + user.ID},
		{"Entra token, Latchkey's audience", "/v1/chat/completions", []string{"Authorization", "Bearer " + e.token(user, client.AccountsAudience)}, 200, "", "principal:" + user.ID},
		{"Entra token without the role here", "/v1/chat/completions", []string{"Authorization", "Bearer " + e.token(other, "https://cognitiveservices.azure.com")}, 403, "PermissionDenied", ""},
		{"Entra token for the management API", "/v1/chat/completions", []string{"Authorization", "Bearer " + e.token(user, client.ManagementAudience)}, 401, "401", ""},
		{"no credential", "/v1/chat/completions", nil, 401, "401", ""},
		{"a wrong key", "/v1/chat/completions", []string{"api-key", strings.Repeat("a", 64)}, 401, "401", ""},
		{"an unknown account", "/v1/chat/completions", []string{"api-key", ks.Key1}, 404, "NotFound", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := "aoai"
			if tc.code == "NotFound" {
				account = "nope"
			}
			before := len(up.seen())
			requests := callerRequests(gw, tc.caller)
			a := e.dataCall(account, tc.path, call, tc.header...)
			if tc.status != http.StatusOK {
				a.wantAccountError(t, tc.name, tc.status, tc.code)
				if len(up.seen()) != before {
					t.Errorf("a refused call reached the upstream")
				}
				return
			}
			if a.status != http.StatusOK {
				t.Fatalf("%s = %d %s", tc.name, a.status, a.body)
			}
			seen := up.seen()[len(up.seen())-1]
			if got := seen.header.Get("Authorization"); got != "Bearer sk-upstream-only" {
				t.Errorf("the upstream saw Authorization %q, want its own key", got)
			}
			for _, h := range []string{"Api-Key", "Ocp-Apim-Subscription-Key"} {
				if seen.header.Get(h) != "" {
					t.Errorf("the upstream saw the caller's %s", h)
				}
			}
			if seen.path != "/v1/chat/completions" || seen.model != "gpt" {
				t.Errorf("the upstream saw %s, model %q; want /v1/chat/completions, gpt", seen.path, seen.model)
			}
			if got := callerRequests(gw, tc.caller); got != requests+1 {
				t.Errorf("the gateway metered %d calls of caller %q, want %d", got, tc.caller, requests+1)
			}
		})
	}

	// A regenerated key and the tokens minted from it stop at once.
	if _, err := e.managementClient(e.admin).RegenerateKey(ctx, "aoai", "key1"); err != nil {
		t.Fatal(err)
	}
	e.dataCall("aoai", "/v1/models", "", "api-key", ks.Key1).wantAccountError(t, "the regenerated key1", http.StatusUnauthorized, "401")
	e.dataCall("aoai", "/v1/models", "", "Authorization", "Bearer "+sts).wantAccountError(t, "a token of the regenerated key1", http.StatusUnauthorized, "401")
	if a := e.dataCall("aoai", "/v1/models", "", "api-key", ks.Key2); a.status != http.StatusOK {
		t.Errorf("key2 after regenerating key1 = %d %s", a.status, a.body)
	}
}

// testGateway adapts the real gateway to httpapi.Gateway, as cmd/latchkey's
// gatewayAdapter does (adapters do not import each other; tests may).
type testGateway struct{ g *gateway.Gateway }

func (a testGateway) Forward(w http.ResponseWriter, r *http.Request, c httpapi.GatewayCall) error {
	up := gateway.Upstream{BaseURL: c.BaseURL, Inject: c.Inject, Deployments: c.Deployments}
	caller := gateway.Caller{Account: c.Account, Key: c.CallerKey, Principal: c.Principal}
	lim := gateway.Limits{RequestsPerMinute: c.RequestsPerMinute, TokensPerMinute: c.TokensPerMinute}
	if c.Azure {
		return a.g.ServeAzureOpenAI(w, r, up, caller, lim, c.Rest)
	}
	return a.g.ServeOpenAI(w, r, up, caller, lim, c.Rest)
}

func (a testGateway) Usage(account string) client.AccountUsage {
	u := a.g.Usage(account)
	out := client.AccountUsage{Account: u.Account, Requests: u.Requests, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	for _, c := range u.Callers {
		cu := client.CallerUsage{Key: c.Key, Requests: c.Requests, PromptTokens: c.PromptTokens, CompletionTokens: c.CompletionTokens}
		if !c.LastUsed.IsZero() {
			t := c.LastUsed
			cu.LastUsed = &t
		}
		out.Callers = append(out.Callers, cu)
	}
	return out
}

// callerRequests returns how many calls of caller key the gateway metered
// for account aoai.
func callerRequests(gw *gateway.Gateway, key string) int64 {
	for _, c := range gw.Usage("aoai").Callers {
		if c.Key == key {
			return c.Requests
		}
	}
	return 0
}

// dataCall sends a call to account's data plane at path with the headers.
func (e *kvEnv) dataCall(account, path, body string, header ...string) kvAnswer {
	e.t.Helper()
	method := http.MethodGet
	if body != "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, e.accountURL(account)+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return kvAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestAccountsGolden pins the wire bodies of the accounts' API and the error
// bodies of their data plane in testdata/accounts/*.golden (go test -run
// TestAccountsGolden -update rewrites them).
func TestAccountsGolden(t *testing.T) {
	e := newKVEnv(t, fixedClock(), gateway.New(gateway.Options{}))
	e.createAccount("aoai", "http://127.0.0.1:9/v1", "sk-upstream")
	base := strings.TrimSuffix(e.authorityHost(), "/") + "/api/v1/accounts/aoai"
	mgmt := e.token(e.admin, client.ManagementAudience)
	e.goldenIn(t, "accounts", "account", e.do(http.MethodGet, base, mgmt, ""))
	keys := e.do(http.MethodPost, base+"/listKeys", mgmt, "")
	e.goldenIn(t, "accounts", "list_keys", keys)
	var ks client.AccountKeys
	if err := json.Unmarshal(keys.body, &ks); err != nil {
		t.Fatal(err)
	}
	e.goldenIn(t, "accounts", "rotation_step1", e.do(http.MethodPost, base+"/rotateKeys", mgmt, `{"quietPeriod":"15m"}`))
	e.sts("aoai", "api-key", ks.Key1)
	e.goldenIn(t, "accounts", "rotation_held", e.do(http.MethodPost, base+"/rotateKeys", mgmt, `{"quietPeriod":"15m"}`))
	e.goldenIn(t, "accounts", "key_usage", e.do(http.MethodGet, base+"/keyUsage", mgmt, ""))

	stranger := e.principal("stranger")
	refusals := []struct {
		name   string
		answer kvAnswer
	}{
		{"error_no_credential", e.dataCall("aoai", "/v1/models", "")},
		{"error_invalid_key", e.dataCall("aoai", "/v1/models", "", "api-key", strings.Repeat("0", 64))},
		{"error_unknown_account", e.dataCall("nope", "/v1/models", "", "api-key", ks.Key1)},
		{"error_permission_denied", e.dataCall("aoai", "/v1/models", "", "Authorization", "Bearer "+e.token(stranger, "https://cognitiveservices.azure.com"))},
		{"error_sts_needs_key", e.sts("aoai")},
		{"error_regenerate_key3", e.do(http.MethodPost, base+"/regenerateKey", mgmt, `{"keyName":"key3"}`)},
	}
	for _, x := range refusals {
		e.goldenIn(t, "accounts", x.name, x.answer)
	}
}
