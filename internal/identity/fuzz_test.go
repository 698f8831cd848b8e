package identity

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// FuzzParseTokenRequest: any form body parses without panicking, and what
// parses is a request Token can act on.
func FuzzParseTokenRequest(f *testing.F) {
	for _, seed := range []string{
		"grant_type=client_credentials&client_id=app&client_secret=s&scope=https%3A%2F%2Fvault.azure.net%2F.default+openid+offline_access+profile",
		"grant_type=client_credentials&client_id=app&client_assertion=a.b.c&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&scope=api%3A%2F%2Fx%2F.default",
		"grant_type=password&username=alice&password=pw&scope=x%2F.default",
		"grant_type=password&grant_type=password",
		"scope=%2F.default&grant_type=client_credentials",
		"grant_type=refresh_token&refresh_token=x",
		"a=1&a=2&;&&==",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		r, err := ParseTokenRequest(form)
		if err != nil {
			if oe := OAuthErrorOf(err); oe.Code == "" || oe.Description == "" {
				t.Fatalf("ParseTokenRequest(%q) error %v has no OAuth code or description", body, err)
			}
			return
		}
		if _, err := audienceOf(r.Scope); err != nil {
			t.Fatalf("ParseTokenRequest(%q) accepted a scope audienceOf refuses: %v", body, err)
		}
		switch r.GrantType {
		case GrantClientCredentials:
			if r.ClientID == "" || (r.ClientSecret.s == "") == (r.ClientAssertion == "") {
				t.Fatalf("ParseTokenRequest(%q) accepted client credentials without exactly one credential", body)
			}
		case GrantPassword:
			if r.Username == "" || r.Password.s == "" {
				t.Fatalf("ParseTokenRequest(%q) accepted a password grant without user or password", body)
			}
		default:
			t.Fatalf("ParseTokenRequest(%q) accepted grant_type %q", body, r.GrantType)
		}
	})
}

// FuzzVerify: no string verifies unless it carries the claims of a token this
// service issued (base64 lets a few bits of a valid token change without
// changing what it decodes to; that is not a forgery).
func FuzzVerify(f *testing.F) {
	e := newTestEnv(f, nil)
	sp := e.newSP(f, "fuzz-verify")
	issued := map[string]bool{}
	for _, scope := range []string{vaultAudience + "/.default", "api://other/.default"} {
		resp := e.tokenFor(f, sp, scope)
		issued[resp.Claims.TokenID] = true
		f.Add(resp.AccessToken)
		parts := strings.Split(resp.AccessToken, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + ".." + parts[2])
	}
	for _, seed := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.e30.AAAA"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := e.s.Verify(context.Background(), token)
		if err != nil {
			if c != nil {
				t.Fatalf("Verify returned claims with an error")
			}
			return
		}
		if c == nil || !issued[c.TokenID] {
			t.Fatalf("Verify(%q) accepted a token this service never issued: %+v", token, c)
		}
	})
}

// FuzzClientAssertion: no client_assertion string gets a token. The seeds
// include an assertion signed with the registered certificate, used once
// before fuzzing, so mutations that keep it valid hit the replay check.
func FuzzClientAssertion(f *testing.F) {
	ctx := context.Background()
	e := newTestEnv(f, nil)
	sp := e.newSP(f, "fuzz-assertion")
	appID := sp.Principal.AppID
	_, key, certPEM := selfSignedCert(f, e.clock.Now())
	if _, err := e.s.AddCertificate(ctx, appID, "fuzz", certPEM); err != nil {
		f.Fatal(err)
	}
	iss := newExternalIssuer(f, "https://issuer.fuzz.test")
	if _, err := e.s.AddFederatedCredential(ctx, appID, FederatedCredential{
		Name: "fuzz-federated", Issuer: iss.url, Subject: "system:serviceaccount:team-a:app", JWKS: iss.jwks,
	}); err != nil {
		f.Fatal(err)
	}
	used := signJWT(f, jose.PS256, key, nil, e.certAssertionClaims(appID))
	if _, err := e.s.Token(ctx, assertionRequest(appID, used)); err != nil {
		f.Fatalf("the seed assertion does not work: %v", err)
	}
	_, stranger, _ := selfSignedCert(f, e.clock.Now())
	now := e.clock.Now()
	f.Add(used, true)
	f.Add(signJWT(f, jose.PS256, stranger, nil, e.certAssertionClaims(appID)), true)
	f.Add(iss.token(f, now, func(c *jwt.Claims) { c.Subject = "system:serviceaccount:team-b:app" }), true)
	f.Add(iss.token(f, now, func(c *jwt.Claims) { c.Issuer = "https://other.fuzz.test" }), true)
	f.Add("eyJhbGciOiJub25lIn0.e30.", true)
	f.Add("a.b.c", true)
	f.Add("", true)
	f.Fuzz(func(t *testing.T, assertion string, ourClient bool) {
		clientID := "00000000-0000-0000-0000-000000000000"
		if ourClient {
			clientID = appID
		}
		req := assertionRequest(clientID, assertion)
		if _, err := ParseTokenRequest(url.Values{
			"grant_type": {req.GrantType}, "client_id": {clientID}, "client_assertion": {assertion},
			"client_assertion_type": {req.ClientAssertionType}, "scope": {req.Scope},
		}); err != nil {
			return // the endpoint refuses it before Token
		}
		if resp, err := e.s.Token(ctx, req); err == nil {
			t.Fatalf("Token issued %+v for assertion %q", resp.Claims, assertion)
		}
	})
}

// FuzzMatchSubject: matching never panics, agrees with the plain backtracking
// definition on short inputs, and a pattern without '*' matches only itself.
func FuzzMatchSubject(f *testing.F) {
	for _, seed := range [][2]string{
		{"system:serviceaccount:team-a:*", "system:serviceaccount:team-a:app"},
		{"system:serviceaccount:**", "system:serviceaccount:a:b"},
		{"repo:org/repo:ref:refs/heads/*", "repo:org/repo:ref:refs/heads/main"},
		{"a***b", "a:x/b"},
		{"*", ""},
		{"", ""},
		{"exact", "exact"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, sub string) {
		got := matchSubject(pattern, sub)
		if !strings.Contains(pattern, "*") && got != (pattern == sub) {
			t.Fatalf("matchSubject(%q, %q) = %v without wildcards, want %v", pattern, sub, got, pattern == sub)
		}
		if !strings.Contains(pattern, "*") && !matchSubject(pattern, pattern) {
			t.Fatalf("matchSubject(%q, itself) = false", pattern)
		}
		if strings.Count(pattern, "*") <= 6 && len(sub) <= 64 {
			if want := matchSubjectBacktracking(pattern, sub); got != want {
				t.Fatalf("matchSubject(%q, %q) = %v, the backtracking definition says %v", pattern, sub, got, want)
			}
		}
	})
}

// matchSubjectBacktracking is the direct recursive definition of subject
// patterns, exponential in the number of wildcards: a reference for fuzzing.
func matchSubjectBacktracking(pattern, sub string) bool {
	for len(pattern) > 0 {
		switch {
		case strings.HasPrefix(pattern, "**"):
			for i := len(sub); i >= 0; i-- {
				if matchSubjectBacktracking(pattern[2:], sub[i:]) {
					return true
				}
			}
			return false
		case pattern[0] == '*':
			for i := 0; i <= len(sub); i++ {
				if matchSubjectBacktracking(pattern[1:], sub[i:]) {
					return true
				}
				if i < len(sub) && (sub[i] == ':' || sub[i] == '/') {
					return false
				}
			}
			return false
		case len(sub) == 0 || sub[0] != pattern[0]:
			return false
		}
		pattern, sub = pattern[1:], sub[1:]
	}
	return sub == ""
}
