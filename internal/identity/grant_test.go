package identity

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/errs"
)

func TestAudienceOf(t *testing.T) {
	tests := []struct {
		scope    string
		want     string
		wantCode string // "" means no error
	}{
		{"https://vault.azure.net/.default", "https://vault.azure.net", ""},
		{"https://vault.azure.net/.default openid offline_access profile", "https://vault.azure.net", ""}, // what MSAL sends
		{"openid https://vault.azure.net/.default email", "https://vault.azure.net", ""},
		{"  https://vault.azure.net/.default\t", "https://vault.azure.net", ""},
		{"https://vault.azure.net/.default https://vault.azure.net/.default", "https://vault.azure.net", ""},
		{"api://11111111-2222-3333-4444-555555555555/.default", "api://11111111-2222-3333-4444-555555555555", ""},
		{"https://management.latchkey//.default", "https://management.latchkey/", ""},
		{"", "", CodeInvalidScope},
		{"openid offline_access profile", "", CodeInvalidScope},
		{"/.default", "", CodeInvalidScope},
		{"https://vault.azure.net/secrets.read", "", CodeInvalidScope},
		{"https://vault.azure.net", "", CodeInvalidScope},
		{"https://vault.azure.net/.default https://management.latchkey/.default", "", CodeInvalidScope},
		{"https://vault.azure.net/.DEFAULT", "", CodeInvalidScope},
	}
	for _, tc := range tests {
		got, err := audienceOf(tc.scope)
		if tc.wantCode == "" {
			if err != nil || got != tc.want {
				t.Errorf("audienceOf(%q) = %q, %v; want %q", tc.scope, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("audienceOf(%q) = %q, want %s", tc.scope, got, tc.wantCode)
			continue
		}
		if oe := OAuthErrorOf(err); oe.Code != tc.wantCode || errs.KindOf(err) != errs.Invalid {
			t.Errorf("audienceOf(%q) error = %v (kind %v), want %s of kind Invalid", tc.scope, err, errs.KindOf(err), tc.wantCode)
		}
	}
}

func TestParseTokenRequest(t *testing.T) {
	const msalScope = "https://vault.azure.net/.default openid offline_access profile"
	tests := []struct {
		name     string
		body     string
		wantCode string // "" means the request parses
		check    func(t *testing.T, r TokenRequest)
	}{
		{"MSAL client secret", "grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=" + url.QueryEscape(msalScope) +
			"&claims=" + url.QueryEscape(`{"access_token":{"xms_cc":{"values":["CP1"]}}}`), "",
			func(t *testing.T, r TokenRequest) {
				if r.GrantType != GrantClientCredentials || r.ClientID != "app" || r.ClientSecret.Reveal() != "s3cret" || r.Scope != msalScope {
					t.Errorf("parsed %+v", r)
				}
			}},
		{"client assertion", "grant_type=client_credentials&client_id=app&client_assertion=a.b.c&client_assertion_type=" +
			url.QueryEscape(AssertionTypeJWTBearer) + "&scope=api%3A%2F%2Fx%2F.default", "",
			func(t *testing.T, r TokenRequest) {
				if r.ClientAssertion != "a.b.c" || r.ClientAssertionType != AssertionTypeJWTBearer || r.ClientSecret.Reveal() != "" {
					t.Errorf("parsed %+v", r)
				}
			}},
		{"password grant without client", "grant_type=password&username=alice&password=pw&scope=" + url.QueryEscape(msalScope), "",
			func(t *testing.T, r TokenRequest) {
				if r.Username != "alice" || r.Password.Reveal() != "pw" || r.ClientID != "" {
					t.Errorf("parsed %+v", r)
				}
			}},
		{"no grant_type", "client_id=app&client_secret=s&scope=x%2F.default", CodeInvalidRequest, nil},
		{"authorization_code grant", "grant_type=authorization_code&code=c&scope=x%2F.default", CodeUnsupportedGrantType, nil},
		{"refresh_token grant", "grant_type=refresh_token&refresh_token=r&scope=x%2F.default", CodeUnsupportedGrantType, nil},
		{"client_credentials without client_id", "grant_type=client_credentials&client_secret=s&scope=x%2F.default", CodeInvalidRequest, nil},
		{"client_credentials without credential", "grant_type=client_credentials&client_id=app&scope=x%2F.default", CodeInvalidRequest, nil},
		{"secret and assertion both", "grant_type=client_credentials&client_id=app&client_secret=s&client_assertion=a.b.c&client_assertion_type=" +
			url.QueryEscape(AssertionTypeJWTBearer) + "&scope=x%2F.default", CodeInvalidRequest, nil},
		{"assertion without type", "grant_type=client_credentials&client_id=app&client_assertion=a.b.c&scope=x%2F.default", CodeInvalidRequest, nil},
		{"assertion with SAML type", "grant_type=client_credentials&client_id=app&client_assertion=a.b.c&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Asaml2-bearer&scope=x%2F.default", CodeInvalidRequest, nil},
		{"password grant without password", "grant_type=password&username=alice&scope=x%2F.default", CodeInvalidRequest, nil},
		{"password grant without username", "grant_type=password&password=pw&scope=x%2F.default", CodeInvalidRequest, nil},
		{"duplicate client_secret", "grant_type=client_credentials&client_id=app&client_secret=a&client_secret=b&scope=x%2F.default", CodeInvalidRequest, nil},
		{"duplicate grant_type", "grant_type=client_credentials&grant_type=password&client_id=app&client_secret=s&scope=x%2F.default", CodeInvalidRequest, nil},
		{"field too long", "grant_type=client_credentials&client_id=app&client_secret=s&scope=x%2F.default&client_assertion_type=" + strings.Repeat("a", maxFormValue+1), CodeInvalidRequest, nil},
		{"no scope", "grant_type=client_credentials&client_id=app&client_secret=s", CodeInvalidScope, nil},
		{"scope without .default", "grant_type=client_credentials&client_id=app&client_secret=s&scope=https%3A%2F%2Fvault.azure.net%2Fuser_impersonation", CodeInvalidScope, nil},
		{"two resources", "grant_type=client_credentials&client_id=app&client_secret=s&scope=a%2F.default+b%2F.default", CodeInvalidScope, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form, err := url.ParseQuery(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseTokenRequest(form)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("ParseTokenRequest = %v, want success", err)
				}
				tc.check(t, r)
				return
			}
			if err == nil {
				t.Fatalf("ParseTokenRequest succeeded, want %s", tc.wantCode)
			}
			if oe := OAuthErrorOf(err); oe.Code != tc.wantCode || oe.AADSTS == 0 || oe.Description == "" {
				t.Errorf("ParseTokenRequest = %+v, want %s with an AADSTS code and a description", oe, tc.wantCode)
			}
			if errs.KindOf(err) != errs.Invalid {
				t.Errorf("ParseTokenRequest error kind = %v, want Invalid", errs.KindOf(err))
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("ParseTokenRequest error echoes a secret: %v", err)
			}
		})
	}
}

// TestSecretRedacted: a parsed request printed by accident shows no secret.
func TestSecretRedacted(t *testing.T) {
	form, _ := url.ParseQuery("grant_type=password&username=alice&password=hunter2hunter2&scope=x%2F.default")
	r, err := ParseTokenRequest(form)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r), r.Password.LogValue().String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("a printed password shows %q", s)
		}
	}
}
