package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/httpapi"
)

func TestIdentityLifecycle(t *testing.T) {
	e := newAPIEnv(t)
	ctx := t.Context()
	mi, err := e.admin.CreateIdentity(ctx, "trainer")
	if err != nil {
		t.Fatal(err)
	}
	if mi.Name != "trainer" || mi.Scope != "/identities/trainer" || mi.PrincipalID != mi.ID || uuid.Validate(mi.ClientID) != nil || !mi.Enabled {
		t.Errorf("CreateIdentity = %+v", mi)
	}
	_, err = e.admin.CreateIdentity(ctx, "trainer")
	wantAPIError(t, "create the same identity twice", err, http.StatusConflict)
	_, err = e.admin.CreateIdentity(ctx, "no/slashes")
	if ae := wantAPIError(t, "an invalid name", err, http.StatusBadRequest); ae.Target != "name" {
		t.Errorf("invalid name: target %q, want name", ae.Target)
	}
	// A system-assigned identity is not a user-assigned one: not listed, not found.
	if _, err := e.ids.CreateSystemIdentity(ctx, "/hubs/h1"); err != nil {
		t.Fatal(err)
	}
	list, err := e.admin.Identities(ctx)
	if err != nil || len(list) != 1 || list[0].ID != mi.ID {
		t.Errorf("Identities = %+v, %v; want trainer only", list, err)
	}
	_, err = e.admin.Identity(ctx, "/hubs/h1")
	wantAPIError(t, "a system identity by name", err, http.StatusNotFound)
	got, err := e.admin.Identity(ctx, "trainer")
	if err != nil || got != mi {
		t.Errorf("Identity = %+v, %v; want %+v", got, err, mi)
	}
	if !e.decided(httpapi.ActionIdentitiesRead, "/identities/trainer") {
		t.Error("reading an identity was not decided on its own scope /identities/trainer")
	}
	// Its client id is not a service principal's.
	_, err = e.admin.ServicePrincipal(ctx, mi.ClientID)
	wantAPIError(t, "an identity through the service principal routes", err, http.StatusNotFound)

	checkIdentityCredentials(t, e, "trainer")

	if err := e.admin.DeleteIdentity(ctx, "trainer"); err != nil {
		t.Fatal(err)
	}
	_, err = e.admin.Identity(ctx, "trainer")
	wantAPIError(t, "show after delete", err, http.StatusNotFound)
	wantAPIError(t, "delete twice", e.admin.DeleteIdentity(ctx, "trainer"), http.StatusNotFound)
}

// checkIdentityCredentials adds, lists and deletes a federated credential of
// the identity name, decided on the identity's own scope.
func checkIdentityCredentials(t *testing.T, e *apiEnv, name string) {
	t.Helper()
	ctx := t.Context()
	fed, err := e.admin.AddIdentityFederatedCredential(ctx, name, client.FederatedCredential{
		Name: "k8s", Issuer: "https://k8s.example", Subject: "system:serviceaccount:ml:trainer", JWKS: newJWKS(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := e.admin.IdentityCredentials(ctx, name)
	if err != nil || len(creds) != 1 || creds[0].ID != fed.ID || creds[0].Subject != "system:serviceaccount:ml:trainer" {
		t.Errorf("IdentityCredentials = %+v, %v; want the k8s credential", creds, err)
	}
	if err := e.admin.DeleteIdentityCredential(ctx, name, fed.ID); err != nil {
		t.Fatal(err)
	}
	if !e.decided(httpapi.ActionIdentityFederatedCredentialsWrite, "/identities/"+name) {
		t.Error("federated credential writes were not decided on /identities/" + name)
	}
}

func TestIdentityToken(t *testing.T) {
	e := newAPIEnv(t)
	ctx := t.Context()
	mi, err := e.admin.CreateIdentity(ctx, "runner")
	if err != nil {
		t.Fatal(err)
	}
	const resource = "https://vault.azure.net"
	tok, err := e.admin.IdentityToken(ctx, "runner", resource)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.Resource != resource || tok.ClientID != mi.ClientID || time.Until(tok.Expires()) < 30*time.Minute {
		t.Errorf("IdentityToken = %+v", tok)
	}
	claims, err := e.ids.Verify(ctx, tok.AccessToken, resource)
	if err != nil {
		t.Fatalf("the identity's token does not verify for %s: %v", resource, err)
	}
	if claims.Audience != resource || claims.ObjectID != mi.ID || claims.ManagedIdentity != "/identities/runner" || claims.AppID != mi.ClientID || claims.TenantID != e.tenant {
		t.Errorf("claims = %+v, want aud %s, oid %s, xms_mirid /identities/runner", claims, resource, mi.ID)
	}
	if !e.decided(httpapi.ActionIdentitiesAssign, "/identities/runner") {
		t.Error("the token was not decided as assign/action on /identities/runner")
	}
	for _, bad := range []string{"", "https://vault.azure.net/.default", "vault.azure.net", "/relative", "https://a b"} {
		_, err := e.admin.IdentityToken(ctx, "runner", bad)
		if ae := wantAPIError(t, "resource "+bad, err, http.StatusBadRequest); ae.Target != "resource" {
			t.Errorf("resource %q: target %q, want resource", bad, ae.Target)
		}
	}
	if _, err := e.admin.IdentityToken(ctx, "runner", "api://latchkey"); err != nil {
		t.Errorf("resource api://latchkey: %v", err)
	}
	_, err = e.admin.IdentityToken(ctx, "nobody", resource)
	wantAPIError(t, "a missing identity", err, http.StatusNotFound)

	sp, err := e.admin.CreateServicePrincipal(ctx, client.CreateServicePrincipalRequest{DisplayName: "not-an-operator"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.clientAs(sp.AppID, sp.Password).IdentityToken(ctx, "runner", resource)
	wantAPIError(t, "a caller without assign", err, http.StatusForbidden)
}
