package main

import (
	"net/http"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/gateway"
	"github.com/latchkey/latchkey/internal/httpapi"
)

// gatewayAdapter gives httpapi the gateway in httpapi's own terms: adapters
// do not import each other, so the wiring joins them.
type gatewayAdapter struct{ g *gateway.Gateway }

var _ httpapi.Gateway = gatewayAdapter{}

// Forward hands an authenticated call to the gateway's Azure OpenAI or
// OpenAI surface.
func (a gatewayAdapter) Forward(w http.ResponseWriter, r *http.Request, c httpapi.GatewayCall) error {
	up := gateway.Upstream{BaseURL: c.BaseURL, Inject: c.Inject, Deployments: c.Deployments}
	caller := gateway.Caller{Account: c.Account, Key: c.CallerKey, Principal: c.Principal}
	lim := gateway.Limits{RequestsPerMinute: c.RequestsPerMinute, TokensPerMinute: c.TokensPerMinute}
	if c.Azure {
		return a.g.ServeAzureOpenAI(w, r, up, caller, lim, c.Rest)
	}
	return a.g.ServeOpenAI(w, r, up, caller, lim, c.Rest)
}

// Usage returns what the gateway metered of account, as the management API
// shows it.
func (a gatewayAdapter) Usage(account string) client.AccountUsage {
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
