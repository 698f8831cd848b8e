package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/gateway"
)

// TestAccountsOpenAIClients drives an account with the official OpenAI Go
// client, as workloads do, through the real server and gateway to a small
// OpenAI-compatible upstream on loopback: with a subscription key (Azure
// OpenAI flavour, api-key), with an STS token minted from a key (OpenAI
// paths, bearer), and with an Entra token from azidentity's
// ClientSecretCredential for the scope the Azure flavour asks by default
// (https://cognitiveservices.azure.com/.default), each streamed and not.
// The upstream sees its own key on every call and never a caller's
// credential; the gateway meters each caller.
func TestAccountsOpenAIClients(t *testing.T) {
	up := newUpstream(t)
	gw := gateway.New(gateway.Options{})
	e := newKVEnv(t, newFakeClock(), gw)
	ctx := context.Background()
	admin := e.managementClient(e.admin)
	upstreamURL, upstreamKey, vaultName := up.URL+"/v1", "sk-upstream-only-4c1e", "default"
	deployments := map[string]string{"chat": "gpt-4o-mini"}
	ks := createAOAI(t, admin, client.AccountRequest{Deployments: &deployments,
		Upstream: &client.AccountUpstreamRequest{URL: &upstreamURL, Key: &upstreamKey, Vault: vaultName}})
	sts := e.sts("aoai", "Ocp-Apim-Subscription-Key", ks.Key2)
	if sts.status != 200 {
		t.Fatalf("the STS exchange = %d %s", sts.status, sts.body)
	}
	app, cred := e.chatApp()
	const apiVersion = "2024-10-21"
	clients := []struct {
		name, model, caller string
		client              openai.Client
	}{
		{"subscription key", "chat", "key1", openai.NewClient(azure.WithEndpoint(e.accountURL("aoai"), apiVersion),
			azure.WithAPIKey(ks.Key1), option.WithHTTPClient(e.hc), option.WithMaxRetries(0))},
		{"STS token", "gpt-4o-mini", "key2", openai.NewClient(option.WithBaseURL(e.accountURL("aoai")+"/v1/"),
			option.WithAPIKey(string(sts.body)), option.WithHTTPClient(e.hc), option.WithMaxRetries(0))},
		{"Entra token", "chat", "principal:" + app.ID, openai.NewClient(azure.WithEndpoint(e.accountURL("aoai"), apiVersion),
			azure.WithTokenCredential(cred), option.WithHTTPClient(e.hc), option.WithMaxRetries(0))},
	}
	secrets := []string{ks.Key1, ks.Key2, string(sts.body)}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			params := openai.ChatCompletionNewParams{Model: c.model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")}}
			res, err := c.client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("Chat.Completions.New: %v", err)
			}
			if len(res.Choices) != 1 || res.Choices[0].Message.Content != "Hello" || res.Usage.TotalTokens != 9 {
				t.Errorf("the completion = %+v", res)
			}
			params.StreamOptions.IncludeUsage = openai.Bool(true)
			stream := c.client.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			chunks := 0
			for stream.Next() {
				acc.AddChunk(stream.Current())
				chunks++
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("the stream: %v", err)
			}
			stream.Close()
			if chunks != 3 || len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "Hello" || acc.Usage.TotalTokens != 9 {
				t.Errorf("the stream = %d chunks, %+v", chunks, acc.ChatCompletion)
			}
			// The client may have read the last event before the gateway,
			// which meters the stream once it ends, has finished the call.
			u := callerUsage(gw, c.caller)
			for deadline := time.Now().Add(5 * time.Second); u.Requests != 2 || u.CompletionTokens != 4; u = callerUsage(gw, c.caller) {
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if u.Requests != 2 || u.PromptTokens != 14 || u.CompletionTokens != 4 {
				t.Errorf("the gateway metered %+v for %s, want 2 requests, 14 + 4 tokens", u, c.caller)
			}
		})
	}
	if tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://cognitiveservices.azure.com/.default"}}); err == nil {
		secrets = append(secrets, tok.Token)
	}

	// A stream passes through the server event by event: the client has the
	// first chunk while the upstream still holds the second.
	up.hold = make(chan struct{})
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream := clients[0].client.Chat.Completions.NewStreaming(sctx, openai.ChatCompletionNewParams{Model: "chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")}})
	if !stream.Next() || stream.Current().Choices[0].Delta.Content != "Hel" {
		t.Fatalf("no first chunk while the upstream holds the second (the answer was held back): %v", stream.Err())
	}
	close(up.hold)
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Errorf("the held stream: %v", err)
	}
	stream.Close()

	// The upstream saw its own key on every call, the deployment as its
	// model, and never a caller's credential.
	calls := up.seen()
	if len(calls) != 7 {
		t.Errorf("the upstream saw %d calls, want 7", len(calls))
	}
	for _, c := range calls {
		if c.header.Get("Authorization") != "Bearer "+upstreamKey || c.model != "gpt-4o-mini" {
			t.Errorf("the upstream saw Authorization %q, model %q", c.header.Get("Authorization"), c.model)
		}
		for name, values := range c.header {
			for _, v := range values {
				for _, s := range secrets {
					if strings.Contains(v, s) {
						t.Errorf("the upstream saw a caller's credential in %s", name)
					}
				}
			}
		}
	}

	// The management API reports the metered usage; the audit trail names
	// keys, never their values.
	usage, err := admin.Usage(ctx, "aoai")
	if err != nil || usage.Requests != 7 || usage.PromptTokens != 49 || len(usage.Callers) != 3 {
		t.Errorf("Usage = %+v, %v; want 7 requests, 49 prompt tokens, 3 callers", usage, err)
	}
	var events []audit.Entry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(events) < 8; time.Sleep(5 * time.Millisecond) {
		events = e.auditEvents(access.AccountsInference)
	}
	names := map[string]int{}
	for _, en := range events {
		names[en.Event.PrincipalName+"/"+en.Event.AuthMethod]++
		for _, s := range append(secrets, upstreamKey) {
			if strings.Contains(en.Event.PrincipalName+en.Event.Reason+en.Event.PrincipalID, s) {
				t.Errorf("an audit event holds a credential: %+v", en.Event)
			}
		}
	}
	if names["key1/subscription_key"] != 3 || names["key2/sts_token"] != 2 || names["key2/subscription_key"] != 1 {
		t.Errorf("audit events by key and way: %v", names)
	}
}

// createAOAI creates account aoai in hub default as req says and returns its
// keys.
func createAOAI(t *testing.T, admin *client.Client, req client.AccountRequest) client.AccountKeys {
	t.Helper()
	if _, _, err := admin.CreateAccount(context.Background(), "default", "aoai", req); err != nil {
		t.Fatal(err)
	}
	ks, err := admin.ListKeys(context.Background(), "aoai")
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// chatApp makes a service principal "chat-app" with Cognitive Services User
// on account aoai, and azidentity's credential for it.
func (e *kvEnv) chatApp() (kvPrincipal, *azidentity.ClientSecretCredential) {
	e.t.Helper()
	app := e.principal("chat-app", grant{"Cognitive Services User", "/hubs/default/accounts/aoai"})
	cred, err := azidentity.NewClientSecretCredential(e.tenant, app.AppID, app.Secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.sdkOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return app, cred
}

// callerUsage returns what the gateway metered of caller key for account
// aoai.
func callerUsage(gw *gateway.Gateway, key string) gateway.CallerUsage {
	for _, c := range gw.Usage("aoai").Callers {
		if c.Key == key {
			return c
		}
	}
	return gateway.CallerUsage{}
}

// TestAccountsDisableLocalAuth: with disableLocalAuth set, the official
// client's key and STS token calls get 403 AuthenticationTypeDisabled, as
// Azure answers, and so does the STS exchange, while an Entra token works;
// turned off again, the same key and token work.
func TestAccountsDisableLocalAuth(t *testing.T) {
	up := newUpstream(t)
	e := newKVEnv(t, newFakeClock(), gateway.New(gateway.Options{}))
	ctx := context.Background()
	admin := e.managementClient(e.admin)
	upstreamURL, upstreamKey := up.URL+"/v1", "sk-upstream-only-77d0"
	ks := createAOAI(t, admin, client.AccountRequest{
		Upstream: &client.AccountUpstreamRequest{URL: &upstreamURL, Key: &upstreamKey, Vault: "default"}})
	sts := e.sts("aoai", "Ocp-Apim-Subscription-Key", ks.Key1)
	if sts.status != 200 {
		t.Fatalf("the STS exchange = %d %s", sts.status, sts.body)
	}
	_, cred := e.chatApp()
	const apiVersion = "2024-10-21"
	byKey := openai.NewClient(azure.WithEndpoint(e.accountURL("aoai"), apiVersion), azure.WithAPIKey(ks.Key1),
		option.WithHTTPClient(e.hc), option.WithMaxRetries(0))
	byToken := openai.NewClient(option.WithBaseURL(e.accountURL("aoai")+"/v1/"), option.WithAPIKey(string(sts.body)),
		option.WithHTTPClient(e.hc), option.WithMaxRetries(0))
	byEntra := openai.NewClient(azure.WithEndpoint(e.accountURL("aoai"), apiVersion), azure.WithTokenCredential(cred),
		option.WithHTTPClient(e.hc), option.WithMaxRetries(0))
	call := func(c openai.Client) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")}})
		return err
	}
	set := func(disabled bool) {
		t.Helper()
		a, err := admin.UpdateAccount(ctx, "aoai", client.AccountRequest{DisableLocalAuth: &disabled})
		if err != nil || a.DisableLocalAuth != disabled {
			t.Fatalf("UpdateAccount(disableLocalAuth %v) = %+v, %v", disabled, a.DisableLocalAuth, err)
		}
	}

	set(true)
	for name, c := range map[string]openai.Client{"subscription key": byKey, "STS token": byToken} {
		var apiErr *openai.Error
		if err := call(c); !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "AuthenticationTypeDisabled" ||
			!strings.Contains(apiErr.Message, "disableLocalAuth") {
			t.Errorf("a call with a %s under disableLocalAuth = %v, want 403 AuthenticationTypeDisabled naming disableLocalAuth", name, err)
		}
	}
	if a := e.sts("aoai", "Ocp-Apim-Subscription-Key", ks.Key2); a.status != 403 || !strings.Contains(string(a.body), "AuthenticationTypeDisabled") {
		t.Errorf("the STS exchange under disableLocalAuth = %d %s, want 403 AuthenticationTypeDisabled", a.status, a.body)
	}
	if err := call(byEntra); err != nil {
		t.Errorf("a call with an Entra token under disableLocalAuth = %v", err)
	}
	if again, err := admin.ListKeys(ctx, "aoai"); err != nil || again != ks {
		t.Errorf("listKeys under disableLocalAuth = %v: the keys stay, unchanged", err)
	}

	set(false)
	for name, c := range map[string]openai.Client{"subscription key": byKey, "STS token": byToken, "Entra token": byEntra} {
		if err := call(c); err != nil {
			t.Errorf("a call with a %s once keys are back = %v", name, err)
		}
	}
}
