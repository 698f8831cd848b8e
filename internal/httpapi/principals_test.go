package httpapi_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
)

func TestServicePrincipalLifecycle(t *testing.T) {
	e := newAPIEnv(t)
	ctx := t.Context()
	before := time.Now()
	sp, err := e.admin.CreateServicePrincipal(ctx, client.CreateServicePrincipalRequest{DisplayName: "build-bot", SecretLifetimeDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	if sp.DisplayName != "build-bot" || sp.Tenant != e.tenant || sp.Password == "" || uuid.Validate(sp.AppID) != nil || uuid.Validate(sp.ID) != nil {
		t.Fatalf("CreateServicePrincipal = %+v", sp)
	}
	if exp := before.Add(30 * 24 * time.Hour); sp.PasswordExpires.Before(exp.Add(-time.Minute)) || sp.PasswordExpires.After(exp.Add(time.Minute)) {
		t.Errorf("passwordExpires = %v, want about %v", sp.PasswordExpires, exp)
	}
	got, err := e.admin.ServicePrincipal(ctx, sp.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != sp.ID || got.AppID != sp.AppID || got.DisplayName != "build-bot" || !got.Enabled || got.Created.IsZero() {
		t.Errorf("ServicePrincipal = %+v, want the one created (%+v)", got, sp)
	}
	all, err := e.admin.ServicePrincipals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 { // the bootstrap admin and build-bot
		t.Errorf("ServicePrincipals = %+v, want the admin and build-bot", all)
	}
	creds, err := e.admin.Credentials(ctx, sp.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 1 || creds[0].Kind != client.CredentialSecret || creds[0].Hint != sp.Password[:3] || creds[0].Expires.IsZero() {
		t.Errorf("Credentials = %+v, want one secret hinted %q", creds, sp.Password[:3])
	}

	newPassword := checkReset(t, e, sp)

	if err := e.admin.DeleteServicePrincipal(ctx, sp.AppID); err != nil {
		t.Fatal(err)
	}
	_, err = e.admin.ServicePrincipal(ctx, sp.AppID)
	wantAPIError(t, "show after delete", err, http.StatusNotFound)
	wantAPIError(t, "delete twice", e.admin.DeleteServicePrincipal(ctx, sp.AppID), http.StatusNotFound)
	if _, err := e.credentials(sp.AppID, newPassword).Token(ctx); err == nil {
		t.Error("a deleted service principal still gets tokens")
	}
	for _, secret := range []string{sp.Password, newPassword} {
		if strings.Contains(e.logs.String(), secret) {
			t.Error("a client secret reached the server's log")
		}
	}
}

// checkReset resets sp's secret and checks that only the new one gets tokens
// from then on. It returns the new secret.
func checkReset(t *testing.T, e *apiEnv, sp client.CreatedServicePrincipal) string {
	t.Helper()
	ctx := t.Context()
	if _, err := e.credentials(sp.AppID, sp.Password).Token(ctx); err != nil {
		t.Fatalf("token with the first secret: %v", err)
	}
	reset, err := e.admin.ResetServicePrincipalCredential(ctx, sp.AppID, client.ResetCredentialRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if reset.AppID != sp.AppID || reset.Tenant != e.tenant || reset.Password == "" || reset.Password == sp.Password {
		t.Fatalf("ResetServicePrincipalCredential = %+v", reset)
	}
	var oe *client.OAuthError
	if _, err := e.credentials(sp.AppID, sp.Password).Token(ctx); !errors.As(err, &oe) || oe.Code != "invalid_client" {
		t.Errorf("token with the old secret after reset: err = %v, want invalid_client", err)
	}
	if _, err := e.credentials(sp.AppID, reset.Password).Token(ctx); err != nil {
		t.Errorf("token with the new secret: %v", err)
	}
	return reset.Password
}

func TestServicePrincipalPaging(t *testing.T) {
	e := newAPIEnv(t)
	for i := range 4 {
		if _, err := e.admin.CreateServicePrincipal(t.Context(), client.CreateServicePrincipalRequest{DisplayName: "sp" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	code, body := e.raw(t, http.MethodGet, "/api/v1/servicePrincipals?maxresults=2", "")
	if code != http.StatusOK {
		t.Fatalf("GET ?maxresults=2 = %d %s", code, body)
	}
	page := decodeJSON[client.List[client.ServicePrincipal]](t, body)
	next, err := url.Parse(page.NextLink)
	if len(page.Value) != 2 || err != nil || next.Host != strings.TrimPrefix(e.ts.URL, "https://") || next.Query().Get("$skiptoken") == "" {
		t.Fatalf("first page = %d items, nextLink %q; want 2 items and an absolute nextLink on %s", len(page.Value), page.NextLink, e.ts.URL)
	}
	all, err := e.admin.ServicePrincipals(t.Context())
	if err != nil || len(all) != 5 {
		t.Errorf("ServicePrincipals = %d items, %v; want 5 across pages", len(all), err)
	}
	for _, q := range []string{"maxresults=0", "maxresults=1001", "maxresults=two"} {
		code, body := e.raw(t, http.MethodGet, "/api/v1/servicePrincipals?"+q, "")
		if d := decodeJSON[client.ErrorBody](t, body).Error; code != http.StatusBadRequest || d.Target != "maxresults" {
			t.Errorf("GET ?%s = %d %+v, want 400 with target maxresults", q, code, d)
		}
	}
}

func TestBodiesAreChecked(t *testing.T) {
	e := newAPIEnv(t)
	tests := []struct {
		name, path, body string
		wantTarget       string
		wantInMessage    string
	}{
		{"unknown field", "/api/v1/servicePrincipals", `{"displayName":"x","bogus":1}`, "bogus", "displayName, secretLifetimeDays"},
		{"wrong type", "/api/v1/servicePrincipals", `{"displayName":5}`, "displayName", "string"},
		{"not JSON", "/api/v1/servicePrincipals", `displayName=x`, "", "byte"},
		{"empty", "/api/v1/servicePrincipals", ``, "", "displayName"},
		{"two values", "/api/v1/servicePrincipals", `{"displayName":"a"}{}`, "", "more than one"},
		{"array", "/api/v1/servicePrincipals", `[]`, "", "object"},
		{"cut short", "/api/v1/servicePrincipals", `{"displayName":`, "", "ends"},
		{"negative lifetime", "/api/v1/servicePrincipals", `{"displayName":"x","secretLifetimeDays":-1}`, "secretLifetimeDays", "3650"},
		{"no display name", "/api/v1/servicePrincipals", `{}`, "displayName", "display name"},
		{"short password", "/api/v1/users", `{"name":"ann","password":"short"}`, "password", "12"},
		{"password never echoed", "/api/v1/users", `{"name":"ann","password":"hunter2hunter2","x":"y"}`, "x", "name, password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.raw(t, http.MethodPost, tc.path, tc.body)
			d := decodeJSON[client.ErrorBody](t, body).Error
			if code != http.StatusBadRequest || d.Code != "BadRequest" || d.Target != tc.wantTarget || !strings.Contains(d.Message, tc.wantInMessage) {
				t.Errorf("POST %s %s = %d %+v, want 400 with target %q and a message with %q", tc.path, tc.body, code, d, tc.wantTarget, tc.wantInMessage)
			}
			if strings.Contains(string(body), "hunter2") {
				t.Errorf("the error echoes the password: %s", body)
			}
		})
	}
	big := `{"displayName":"` + strings.Repeat("x", 2<<20) + `"}`
	if code, body := e.raw(t, http.MethodPost, "/api/v1/servicePrincipals", big); code != http.StatusBadRequest || !strings.Contains(decodeJSON[client.ErrorBody](t, body).Error.Message, "1 MiB") {
		t.Errorf("2 MiB body = %d %s, want 400 saying 1 MiB", code, body)
	}
}

func TestUsersAndMe(t *testing.T) {
	e := newAPIEnv(t)
	ctx := t.Context()
	me, err := e.admin.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != e.adminID || me.Kind != "ServicePrincipal" || me.Name != "latchkey-admin" || me.AppID == "" || me.TenantID != e.tenant {
		t.Errorf("Me as the admin = %+v", me)
	}
	const password = "correct horse battery"
	u, err := e.admin.CreateUser(ctx, client.CreateUserRequest{Name: "ann@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "ann@example.com" || !u.Enabled || uuid.Validate(u.ID) != nil {
		t.Errorf("CreateUser = %+v", u)
	}
	_, err = e.admin.CreateUser(ctx, client.CreateUserRequest{Name: "ann@example.com", Password: password})
	wantAPIError(t, "create the same user twice", err, http.StatusConflict)
	users, err := e.admin.Users(ctx)
	if err != nil || len(users) != 1 || users[0].ID != u.ID {
		t.Errorf("Users = %+v, %v; want ann", users, err)
	}

	tok, err := client.PasswordLogin(ctx, e.ts.Client(), e.tokenURL, "ann@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	ann := client.New(e.ts.URL, e.ts.Client(), staticToken(tok.AccessToken))
	if me, err := ann.Me(ctx); err != nil || me.ID != u.ID || me.Kind != "User" || me.Name != "ann@example.com" || me.AppID != "" {
		t.Errorf("Me as ann = %+v, %v", me, err)
	}
	_, err = ann.Users(ctx)
	if ae := wantAPIError(t, "ann lists users", err, http.StatusForbidden); ae.Code != "Forbidden" {
		t.Errorf("ann lists users: code %q, want Forbidden", ae.Code)
	}
	if _, err := client.PasswordLogin(ctx, e.ts.Client(), e.tokenURL, "ann@example.com", "wrong password!"); err == nil {
		t.Error("a wrong password got a token")
	}

	if err := e.admin.DeleteUser(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, "delete a deleted user", e.admin.DeleteUser(ctx, "ann@example.com"), http.StatusNotFound)
	_, err = ann.Me(ctx)
	wantAPIError(t, "a deleted user's token", err, http.StatusUnauthorized)
	if strings.Contains(e.logs.String(), password) {
		t.Error("a password reached the server's log")
	}
}

func TestAuthentication(t *testing.T) {
	e := newAPIEnv(t)
	ctx := t.Context()
	anon := client.New(e.ts.URL, e.ts.Client(), nil)
	_, err := anon.ServicePrincipals(ctx)
	if ae := wantAPIError(t, "no token", err, http.StatusUnauthorized); !strings.Contains(ae.Message, client.ManagementScope) {
		t.Errorf("no token: message %q does not say which scope to ask for", ae.Message)
	}
	_, err = anon.Me(ctx)
	wantAPIError(t, "me without a token", err, http.StatusUnauthorized)
	_, err = client.New(e.ts.URL, e.ts.Client(), staticToken("not.a.jwt")).Me(ctx)
	wantAPIError(t, "a garbage token", err, http.StatusUnauthorized)

	sp, err := e.admin.CreateServicePrincipal(ctx, client.CreateServicePrincipalRequest{DisplayName: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	other := e.clientAs(sp.AppID, sp.Password)
	_, err = other.ServicePrincipals(ctx)
	wantAPIError(t, "a non-admin lists service principals", err, http.StatusForbidden)
	// Authorization comes before lookup: a denied caller cannot tell what exists.
	_, err = other.ServicePrincipal(ctx, uuid.NewString())
	wantAPIError(t, "a non-admin looks up a missing service principal", err, http.StatusForbidden)
	if me, err := other.Me(ctx); err != nil || me.AppID != sp.AppID {
		t.Errorf("Me needs only authentication: %+v, %v", me, err)
	}
	if e.decided(httpapi.ActionAuthenticated, "/") {
		t.Error("the Authorizer was asked about /api/v1/me")
	}
	if !e.decided(httpapi.ActionServicePrincipalsRead, "/") {
		t.Error("the Authorizer was not asked about servicePrincipals/read on /")
	}
}

func TestCredentials(t *testing.T) {
	e := newAPIEnv(t)
	ctx := t.Context()
	sp, err := e.admin.CreateServicePrincipal(ctx, client.CreateServicePrincipalRequest{DisplayName: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, thumbprint := newCertificate(t)
	cert, err := e.admin.AddCertificate(ctx, sp.AppID, client.AddCertificateRequest{Name: "ci-cert", Certificate: certPEM})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Kind != client.CredentialCertificate || cert.Name != "ci-cert" || cert.Thumbprint != thumbprint || cert.Expires.IsZero() {
		t.Errorf("AddCertificate = %+v, want thumbprint %s", cert, thumbprint)
	}
	_, err = e.admin.AddCertificate(ctx, sp.AppID, client.AddCertificateRequest{Certificate: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"})
	if ae := wantAPIError(t, "a private key as certificate", err, http.StatusBadRequest); ae.Target != "certificate" {
		t.Errorf("target %q, want certificate", ae.Target)
	}
	fed, err := e.admin.AddFederatedCredential(ctx, sp.AppID, client.FederatedCredential{
		Name: "github", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/app:*", JWKS: newJWKS(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if fed.Kind != client.CredentialFederated || fed.Issuer != "https://token.actions.githubusercontent.com" || fed.Subject != "repo:acme/app:*" ||
		len(fed.Audiences) != 1 || fed.Audiences[0] != identity.DefaultFederatedAudience {
		t.Errorf("AddFederatedCredential = %+v", fed)
	}
	_, err = e.admin.AddFederatedCredential(ctx, sp.AppID, client.FederatedCredential{Name: "bad", Issuer: "http://insecure", Subject: "x", JWKSURI: "https://x"})
	if ae := wantAPIError(t, "an http issuer", err, http.StatusBadRequest); ae.Target != "issuer" {
		t.Errorf("target %q, want issuer", ae.Target)
	}
	creds, err := e.admin.Credentials(ctx, sp.AppID)
	if err != nil || len(creds) != 3 {
		t.Fatalf("Credentials = %+v, %v; want a secret, a certificate and a federated credential", creds, err)
	}
	if err := e.admin.DeleteCredential(ctx, sp.AppID, cert.ID); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, "delete a deleted credential", e.admin.DeleteCredential(ctx, sp.AppID, cert.ID), http.StatusNotFound)
	if creds, _ := e.admin.Credentials(ctx, sp.AppID); len(creds) != 2 {
		t.Errorf("after delete: %d credentials, want 2", len(creds))
	}
	_, err = e.admin.Credentials(ctx, uuid.NewString())
	wantAPIError(t, "credentials of a missing service principal", err, http.StatusNotFound)
	if code, body := e.raw(t, http.MethodGet, "/api/v1/servicePrincipals/"+sp.AppID+"/credentials", ""); strings.Contains(string(body), `"hash"`) || code != http.StatusOK {
		t.Errorf("credentials list = %d %s: must not show a secret's hash", code, body)
	}
}
