package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/vault"
)

// These tests speak HTTP to the Key Vault data plane directly: the bearer
// challenge, authorization by data actions, the network allow-list, request
// validation, routes and paging, and the wire bodies, kept as golden files in
// testdata/keyvault.

// TestKVChallenge: every 401 of the data plane carries the bearer challenge
// exactly as Key Vault words it, naming our authority and the vault resource;
// the first request of an SDK client (a PUT without body or token) gets it
// before anything else is checked, and so does a bad token or a token for
// another audience.
func TestKVChallenge(t *testing.T) {
	e := newKVEnv(t, fixedClock())
	wantChallenge := fmt.Sprintf(`Bearer authorization="https://localhost:%s/%s", resource="https://vault.localhost:%s"`, e.port, e.tenant, e.port)
	check := func(what string, a kvAnswer) {
		t.Helper()
		a.wantError(t, what, http.StatusUnauthorized, "Unauthorized", "")
		if got := a.header.Get("WWW-Authenticate"); got != wantChallenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", what, got, wantChallenge)
		}
	}

	first := e.do(http.MethodPut, e.secretURL("/secrets/db-password"), "", "")
	check("first request", first)
	e.golden(t, "error_missing_token", first)
	check("no api-version either", e.do(http.MethodPut, e.vaultURL("default")+"/secrets/db-password", "", ""))
	check("GET on vault other", e.do(http.MethodGet, e.vaultURL("other")+"/secrets?"+apiVersion, "", ""))
	check("not a JWT", e.do(http.MethodGet, e.secretURL("/secrets"), "not-a-jwt", ""))

	basic, err := http.NewRequest(http.MethodGet, e.secretURL("/secrets"), nil)
	if err != nil {
		t.Fatal(err)
	}
	basic.SetBasicAuth(e.admin.AppID, e.admin.Secret)
	resp, err := e.hc.Do(basic)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != wantChallenge {
		t.Errorf("Basic credentials = %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	wrong := e.do(http.MethodGet, e.secretURL("/secrets"), e.token(e.admin, client.ManagementAudience), "")
	check("management token", wrong)
	e.golden(t, "error_wrong_audience", wrong)
	check("token for another port", e.do(http.MethodGet, e.secretURL("/secrets"), e.token(e.admin, "https://vault.localhost:1"), ""))

	// The vault resource, and Azure's (which clients may ask for by
	// default), are both accepted.
	for _, resource := range []string{e.resource(), "https://vault.azure.net"} {
		if a := e.do(http.MethodGet, e.secretURL("/secrets"), e.token(e.admin, resource), ""); a.status != http.StatusOK {
			t.Errorf("token for %s = %d %s", resource, a.status, a.body)
		}
	}

	// A principal disabled after its token was issued is refused at once.
	p := e.principal("soon-disabled", grant{"Key Vault Secrets User", "/"})
	tok := e.token(p, e.resource())
	if a := e.do(http.MethodGet, e.secretURL("/secrets"), tok, ""); a.status != http.StatusOK {
		t.Fatalf("before disabling = %d %s", a.status, a.body)
	}
	if _, err := e.ids.SetEnabled(t.Context(), p.ID, false); err != nil {
		t.Fatal(err)
	}
	check("disabled principal", e.do(http.MethodGet, e.secretURL("/secrets"), tok, ""))
}

// TestKVRoleAssignments: data access follows role assignments down the scope
// tree and no further. A Key Vault Secrets User of vault "default" reads it
// but not its sibling, and cannot write; a Key Vault Reader lists metadata
// but reads no value; Contributor and Owner (control plane) read no value at
// all. A refusal says ForbiddenByRbac and is the same whether or not the
// secret exists.
func TestKVRoleAssignments(t *testing.T) {
	e := newKVEnv(t, fixedClock())
	adminToken := e.token(e.admin, e.resource())
	for _, v := range []string{"default", "other"} {
		a := e.do(http.MethodPut, e.vaultURL(v)+"/secrets/s?"+apiVersion, adminToken, `{"value":"in-`+v+`"}`)
		if a.status != http.StatusOK {
			t.Fatalf("set in %s = %d %s", v, a.status, a.body)
		}
	}
	type call struct {
		method, vault, path, body string
		status                    int
	}
	get := func(v, path string, status int) call { return call{http.MethodGet, v, path, "", status} }
	for _, tc := range []struct {
		name   string
		grants []grant
		calls  []call
	}{
		{"Key Vault Secrets User on vault default", []grant{{"Key Vault Secrets User", "/hubs/default/vaults/default"}}, []call{
			get("default", "/secrets/s", 200),
			get("default", "/secrets", 200),
			get("default", "/secrets/s/versions", 200),
			get("other", "/secrets/s", 403),
			get("other", "/secrets", 403),
			{http.MethodPut, "default", "/secrets/s", `{"value":"x"}`, 403},
			{http.MethodPatch, "default", "/secrets/s", `{"contentType":"x"}`, 403},
			{http.MethodDelete, "default", "/secrets/s", "", 403},
			{http.MethodPost, "default", "/secrets/s/backup", "", 403},
		}},
		{"Key Vault Secrets User on one secret", []grant{{"Key Vault Secrets User", "/hubs/default/vaults/other/secrets/s"}}, []call{
			get("other", "/secrets/s", 200),
			get("other", "/secrets/t", 403),
			get("other", "/secrets", 403),
			get("default", "/secrets/s", 403),
		}},
		{"Key Vault Reader on the hub", []grant{{"Key Vault Reader", "/hubs/default"}}, []call{
			get("default", "/secrets", 200),
			get("default", "/secrets/s/versions", 200),
			get("default", "/deletedsecrets", 200),
			get("default", "/secrets/s", 403),
			get("other", "/secrets/s", 403),
		}},
		{"Contributor on the hub", []grant{{"Contributor", "/hubs/default"}}, []call{
			get("default", "/secrets/s", 403),
			get("default", "/secrets/missing", 403),
			get("default", "/secrets", 403),
			{http.MethodPut, "default", "/secrets/s", `{"value":"x"}`, 403},
		}},
		{"Owner at the root", []grant{{"Owner", "/"}}, []call{
			get("default", "/secrets/s", 403),
			get("other", "/secrets", 403),
		}},
		{"no role", nil, []call{
			get("default", "/secrets/s", 403),
			get("default", "/secrets/missing", 403),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.principal(strings.ReplaceAll(tc.name, " ", "-"), tc.grants...)
			tok := e.token(p, e.resource())
			for _, c := range tc.calls {
				what := c.method + " " + c.vault + c.path
				a := e.do(c.method, e.vaultURL(c.vault)+c.path+"?"+apiVersion, tok, c.body)
				if c.status != http.StatusOK {
					a.wantError(t, what, c.status, "Forbidden", "ForbiddenByRbac")
					continue
				}
				if a.status != http.StatusOK {
					t.Errorf("%s = %d %s, want 200", what, a.status, a.body)
				}
				if strings.Contains(c.path, "/secrets/s/") || c.path == "/secrets" {
					if strings.Contains(string(a.body), `"value":"in-`) {
						t.Errorf("%s: a listing shows a value: %s", what, a.body)
					}
				}
			}
		})
	}
	// The refusal's wire shape.
	p := e.principal("user-of-default", grant{"Key Vault Secrets User", "/hubs/default/vaults/default"})
	e.golden(t, "error_forbidden_rbac", e.do(http.MethodGet, e.vaultURL("other")+"/secrets/s?"+apiVersion, e.token(p, e.resource()), ""))
}

// TestKVNetworkAllowList: a vault whose allow-list excludes the caller's
// address answers 403 ForbiddenByFirewall before authentication (no token
// needed, no challenge) and with a valid token alike; other vaults are not
// affected, and a new list applies at once.
func TestKVNetworkAllowList(t *testing.T) {
	e := newKVEnv(t, fixedClock())
	ctx := t.Context()
	if _, err := e.vault.UpdateSettings(ctx, e.admin.ID, "other", vault.SettingsUpdate{NetworkAllow: &[]string{"10.0.0.0/8"}}); err != nil {
		t.Fatal(err)
	}
	otherURL := e.vaultURL("other") + "/secrets?" + apiVersion
	anon := e.do(http.MethodGet, otherURL, "", "")
	anon.wantError(t, "no token, outside the allow-list", http.StatusForbidden, "Forbidden", "ForbiddenByFirewall")
	e.golden(t, "error_network", anon)
	e.do(http.MethodPut, e.vaultURL("other")+"/secrets/x?"+apiVersion, "", "").
		wantError(t, "first SDK request, outside the allow-list", http.StatusForbidden, "Forbidden", "ForbiddenByFirewall")
	e.do(http.MethodGet, otherURL, e.token(e.admin, e.resource()), "").
		wantError(t, "valid token, outside the allow-list", http.StatusForbidden, "Forbidden", "ForbiddenByFirewall")
	e.do(http.MethodGet, e.secretURL("/secrets"), "", "").
		wantError(t, "vault default, no token", http.StatusUnauthorized, "Unauthorized", "")

	if _, err := e.vault.UpdateSettings(ctx, e.admin.ID, "other", vault.SettingsUpdate{NetworkAllow: &[]string{"10.0.0.0/8", "127.0.0.1/32"}}); err != nil {
		t.Fatal(err)
	}
	e.do(http.MethodGet, otherURL, "", "").
		wantError(t, "no token, inside the new allow-list", http.StatusUnauthorized, "Unauthorized", "")
	if a := e.do(http.MethodGet, otherURL, e.token(e.admin, e.resource()), ""); a.status != http.StatusOK {
		t.Errorf("valid token, inside the allow-list = %d %s", a.status, a.body)
	}
}

// TestKVBadRequests: each malformed request gets Key Vault's error object with
// the status and code Key Vault uses, after authentication.
func TestKVBadRequests(t *testing.T) {
	e := newKVEnv(t, fixedClock())
	tok := e.token(e.admin, e.resource())
	if a := e.do(http.MethodPut, e.secretURL("/secrets/exists"), tok, `{"value":"v"}`); a.status != http.StatusOK {
		t.Fatalf("set = %d %s", a.status, a.body)
	}
	maxValue := strings.Repeat("x", vault.MaxValueBytes)
	tags := map[string]string{}
	for i := range vault.MaxTags + 1 {
		tags[fmt.Sprintf("t%d", i)] = "v"
	}
	tooManyTags, _ := json.Marshal(map[string]any{"value": "v", "tags": tags})
	for _, tc := range []struct {
		name, method, url, body string
		status                  int
		code, inner, golden     string
	}{
		{"missing api-version", http.MethodGet, e.vaultURL("default") + "/secrets/exists", "", 400, "BadParameter", "", "error_api_version"},
		{"empty api-version", http.MethodGet, e.vaultURL("default") + "/secrets/exists?api-version=", "", 400, "BadParameter", "", ""},
		{"name with an underscore", http.MethodPut, e.secretURL("/secrets/bad_name"), `{"value":"v"}`, 400, "BadParameter", "InvalidSecretName", "error_bad_name"},
		{"name with an escaped slash", http.MethodGet, e.secretURL("/secrets/a%2Fb"), "", 400, "BadParameter", "InvalidSecretName", ""},
		{"name with a dot", http.MethodGet, e.secretURL("/secrets/a.b"), "", 400, "BadParameter", "InvalidSecretName", ""},
		{"name of 128 characters", http.MethodPut, e.secretURL("/secrets/" + strings.Repeat("n", 128)), `{"value":"v"}`, 400, "BadParameter", "InvalidSecretName", ""},
		{"value over 25 KB", http.MethodPut, e.secretURL("/secrets/big"), `{"value":"` + maxValue + `x"}`, 400, "BadParameter", "", "error_value_too_large"},
		{"no body", http.MethodPut, e.secretURL("/secrets/nobody"), "", 400, "BadParameter", "", ""},
		{"no value", http.MethodPut, e.secretURL("/secrets/novalue"), `{"contentType":"text/plain"}`, 400, "BadParameter", "", ""},
		{"not JSON", http.MethodPut, e.secretURL("/secrets/notjson"), `value=v`, 400, "BadParameter", "", ""},
		{"too many tags", http.MethodPut, e.secretURL("/secrets/tags"), string(tooManyTags), 400, "BadParameter", "", ""},
		{"content type too long", http.MethodPut, e.secretURL("/secrets/ct"), `{"value":"v","contentType":"` + strings.Repeat("c", 256) + `"}`, 400, "BadParameter", "", ""},
		{"PATCH not JSON", http.MethodPatch, e.secretURL("/secrets/exists"), `[`, 400, "BadParameter", "", ""},
		{"restore without a blob", http.MethodPost, e.secretURL("/secrets/restore"), `{}`, 400, "BadParameter", "", ""},
		{"restore of garbage", http.MethodPost, e.secretURL("/secrets/restore"), `{"value":"AAAA"}`, 400, "BadParameter", "", "error_restore_foreign"},
		{"version that is not hex", http.MethodGet, e.secretURL("/secrets/exists/not-a-version"), "", 404, "SecretNotFound", "", ""},
		{"unknown version", http.MethodGet, e.secretURL("/secrets/exists/0123456789abcdef0123456789abcdef"), "", 404, "SecretNotFound", "", ""},
		{"unknown secret", http.MethodGet, e.secretURL("/secrets/missing"), "", 404, "SecretNotFound", "", "error_not_found"},
		{"unknown deleted secret", http.MethodGet, e.secretURL("/deletedsecrets/missing"), "", 404, "SecretNotFound", "", ""},
		{"versions of an unknown secret", http.MethodGet, e.secretURL("/secrets/missing/versions"), "", 404, "SecretNotFound", "", ""},
		{"recover of a live secret", http.MethodPost, e.secretURL("/deletedsecrets/exists/recover"), "", 404, "SecretNotFound", "", ""},
		{"purge of a live secret", http.MethodDelete, e.secretURL("/deletedsecrets/exists"), "", 404, "SecretNotFound", "", ""},
		{"unknown collection", http.MethodGet, e.secretURL("/keys"), "", 404, "NotFound", "", ""},
		{"unknown vault", http.MethodGet, e.vaultURL("nowhere") + "/secrets?" + apiVersion, "", 404, "NotFound", "", ""},
		{"maxresults 0", http.MethodGet, e.secretURL("/secrets?maxresults=0"), "", 400, "BadParameter", "", "error_maxresults"},
		{"maxresults 26", http.MethodGet, e.secretURL("/secrets?maxresults=26"), "", 400, "BadParameter", "", ""},
		{"maxresults not a number", http.MethodGet, e.secretURL("/secrets?maxresults=ten"), "", 400, "BadParameter", "", ""},
		{"maxresults on versions", http.MethodGet, e.secretURL("/secrets/exists/versions?maxresults=-1"), "", 400, "BadParameter", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(tc.method, tc.url, tok, tc.body)
			a.wantError(t, tc.name, tc.status, tc.code, tc.inner)
			if tc.golden != "" {
				e.golden(t, tc.golden, a)
			}
		})
	}
	// The limits themselves are allowed.
	for name, body := range map[string]string{"value of exactly 25 KB": `{"value":"` + maxValue + `"}`, "empty value": `{"value":""}`} {
		if a := e.do(http.MethodPut, e.secretURL("/secrets/limit"), tok, body); a.status != http.StatusOK {
			t.Errorf("%s = %d %s, want 200", name, a.status, a.body)
		}
	}
	for _, n := range []string{"1", "25"} {
		if a := e.do(http.MethodGet, e.secretURL("/secrets?maxresults="+n), tok, ""); a.status != http.StatusOK {
			t.Errorf("maxresults=%s = %d %s", n, a.status, a.body)
		}
	}
}

// TestKVRoutes: the trailing-slash forms the SDK sends for "the current
// version" (GET and PATCH /secrets/{name}/), versions by id, and names that
// match route words.
func TestKVRoutes(t *testing.T) {
	e := newKVEnv(t, fixedClock())
	tok := e.token(e.admin, e.resource())
	v1 := decode[bundle](t, e.do(http.MethodPut, e.secretURL("/secrets/route"), tok, `{"value":"one"}`)).version()
	v2 := decode[bundle](t, e.do(http.MethodPut, e.secretURL("/secrets/Route"), tok, `{"value":"two"}`)).version()

	for _, path := range []string{"/secrets/route", "/secrets/route/", "/secrets/ROUTE/", "/secrets/route/" + v2, "/secrets/route/" + strings.ToUpper(v2)} {
		b := decode[bundle](t, e.do(http.MethodGet, e.secretURL(path), tok, ""))
		if *b.Value != "two" || b.ID != e.vaultURL("default")+"/secrets/route/"+v2 {
			t.Errorf("GET %s = %s %s, want two at %s", path, *b.Value, b.ID, v2)
		}
	}
	if b := decode[bundle](t, e.do(http.MethodGet, e.secretURL("/secrets/route/"+v1), tok, "")); *b.Value != "one" {
		t.Errorf("GET v1 = %s", *b.Value)
	}

	// PATCH with a trailing slash changes the current version only.
	up := decode[bundle](t, e.do(http.MethodPatch, e.secretURL("/secrets/route/"), tok, `{"contentType":"text/plain","tags":{"a":"b"}}`))
	if up.version() != v2 || up.Value != nil || up.ContentType != "text/plain" || up.Tags["a"] != "b" {
		t.Errorf("PATCH /secrets/route/ = %+v", up)
	}
	if b := decode[bundle](t, e.do(http.MethodGet, e.secretURL("/secrets/route/"+v1), tok, "")); b.ContentType != "" {
		t.Errorf("PATCH of the current version changed v1: %+v", b)
	}
	// PATCH of a version by id changes that version only.
	up = decode[bundle](t, e.do(http.MethodPatch, e.secretURL("/secrets/route/"+v1), tok, `{"attributes":{"enabled":false}}`))
	if up.version() != v1 || *up.Attributes.Enabled {
		t.Errorf("PATCH v1 = %+v", up)
	}
	e.do(http.MethodGet, e.secretURL("/secrets/route/"+v1), tok, "").
		wantError(t, "GET of the disabled v1", http.StatusForbidden, "Forbidden", "SecretDisabled")
	if b := decode[bundle](t, e.do(http.MethodGet, e.secretURL("/secrets/route"), tok, "")); b.ContentType != "text/plain" || !*b.Attributes.Enabled {
		t.Errorf("current version after the PATCHes = %+v", b)
	}
	// An empty PATCH changes nothing but the update time.
	if b := decode[bundle](t, e.do(http.MethodPatch, e.secretURL("/secrets/route"), tok, `{}`)); b.ContentType != "text/plain" || b.Tags["a"] != "b" {
		t.Errorf("empty PATCH = %+v", b)
	}

	// Secrets named like route words.
	for _, name := range []string{"versions", "restore", "backup", "recover"} {
		if a := e.do(http.MethodPut, e.secretURL("/secrets/"+name), tok, `{"value":"`+name+`"}`); a.status != http.StatusOK {
			t.Errorf("PUT /secrets/%s = %d %s", name, a.status, a.body)
			continue
		}
		if b := decode[bundle](t, e.do(http.MethodGet, e.secretURL("/secrets/"+name+"/"), tok, "")); *b.Value != name {
			t.Errorf("GET /secrets/%s/ = %s", name, *b.Value)
		}
	}
	vs := decode[page](t, e.do(http.MethodGet, e.secretURL("/secrets/versions/versions"), tok, ""))
	if len(vs.Value) != 1 {
		t.Errorf("versions of the secret named versions = %d items", len(vs.Value))
	}
}

// TestKVPaging: maxresults sizes pages; nextLink is absolute, names the vault
// as the client reached it and carries the caller's api-version, so
// following it verbatim walks every list to the end with each item once.
func TestKVPaging(t *testing.T) {
	e := newKVEnv(t, fixedClock())
	tok := e.token(e.admin, e.resource())
	var names []string
	for i := range 7 {
		name := fmt.Sprintf("page-%d", i)
		names = append(names, name)
		for range 2 { // two versions each
			if a := e.do(http.MethodPut, e.secretURL("/secrets/"+name), tok, `{"value":"v"}`); a.status != http.StatusOK {
				t.Fatal(a.status, string(a.body))
			}
		}
	}
	for _, name := range names[5:] {
		if a := e.do(http.MethodDelete, e.secretURL("/secrets/"+name), tok, ""); a.status != http.StatusOK {
			t.Fatal(a.status, string(a.body))
		}
	}

	walk := func(first string, pageSize int) (ids []string, pages int) {
		t.Helper()
		link := first
		for link != "" {
			p := decode[page](t, e.do(http.MethodGet, link, tok, ""))
			pages++
			if len(p.Value) > pageSize {
				t.Errorf("%s: %d items, more than %d", link, len(p.Value), pageSize)
			}
			for _, b := range p.Value {
				ids = append(ids, b.ID)
			}
			link = ""
			if p.NextLink != nil {
				link = *p.NextLink
				u, err := url.Parse(link)
				if err != nil || u.Scheme != "https" || u.Host != "default.vault.localhost:"+e.port {
					t.Fatalf("nextLink %s is not absolute on the vault's host", link)
				}
				if q := u.Query(); q.Get("api-version") != "7.5" || q.Get("maxresults") != fmt.Sprint(pageSize) || q.Get("$skiptoken") == "" {
					t.Errorf("nextLink %s lacks api-version=7.5, maxresults or $skiptoken", link)
				}
			}
			if pages > 20 {
				t.Fatalf("paging does not end")
			}
		}
		return ids, pages
	}
	base := e.vaultURL("default")
	ids, pages := walk(base+"/secrets?api-version=7.5&maxresults=2", 2)
	var want []string
	for _, n := range names[:5] {
		want = append(want, base+"/secrets/"+n)
	}
	sort.Strings(ids)
	if d := cmp.Diff(want, ids); d != "" || pages != 3 {
		t.Errorf("list by 2: %d pages (-want +got):\n%s", pages, d)
	}
	ids, pages = walk(base+"/secrets/page-0/versions?api-version=7.5&maxresults=1", 1)
	if len(ids) != 2 || pages != 2 || ids[0] == ids[1] || !strings.HasPrefix(ids[0], base+"/secrets/page-0/") {
		t.Errorf("versions by 1: %d pages, %q", pages, ids)
	}
	ids, pages = walk(base+"/deletedsecrets?api-version=7.5&maxresults=1", 1)
	if d := cmp.Diff([]string{base + "/secrets/page-5", base + "/secrets/page-6"}, ids); d != "" || pages != 2 {
		t.Errorf("deleted by 1: %d pages (-want +got):\n%s", pages, d)
	}
	// Without maxresults a page holds up to 25, and the last page has a null nextLink.
	p := decode[page](t, e.do(http.MethodGet, e.secretURL("/secrets"), tok, ""))
	if len(p.Value) != 5 || p.NextLink != nil {
		t.Errorf("default page: %d items, nextLink %v", len(p.Value), p.NextLink)
	}
	if !bytes.Contains(e.do(http.MethodGet, e.secretURL("/secrets"), tok, "").body, []byte(`"nextLink":null`)) {
		t.Errorf("the last page does not say nextLink null")
	}
}

// TestKVWireGolden records the wire bodies of every kind of answer at a fixed
// clock: SecretBundle (set, get, update, recover, restore), a list page with a
// nextLink, a versions page, DeletedSecretBundle and its list, and the errors
// of the secret lifecycle.
func TestKVWireGolden(t *testing.T) {
	e := newKVEnv(t, fixedClock())
	tok := e.token(e.admin, e.resource())
	do := func(method, path, body string) kvAnswer { return e.do(method, e.secretURL(path), tok, body) }
	ok := func(name string, a kvAnswer) kvAnswer {
		t.Helper()
		if a.status != http.StatusOK {
			t.Fatalf("%s = %d %s", name, a.status, a.body)
		}
		e.golden(t, name, a)
		return a
	}

	ok("set_secret", do(http.MethodPut, "/secrets/db-password",
		`{"value":"hunter2","contentType":"text/plain","tags":{"env":"dev"},"attributes":{"enabled":true,"nbf":1772362800,"exp":1772452800}}`))
	ok("get_secret", do(http.MethodGet, "/secrets/db-password/", ""))
	ok("update_secret", do(http.MethodPatch, "/secrets/db-password/", `{"tags":{"env":"prod"},"attributes":{"exp":1772539200}}`))
	do(http.MethodPut, "/secrets/api-key", `{"value":"k"}`)
	ok("list_page", do(http.MethodGet, "/secrets?maxresults=1", ""))
	ok("versions_page", do(http.MethodGet, "/secrets/db-password/versions", ""))

	backup := decode[struct {
		Value string `json:"value"`
	}](t, do(http.MethodPost, "/secrets/api-key/backup", ""))
	if backup.Value == "" || strings.ContainsAny(backup.Value, "=+/") {
		t.Errorf("backup blob %.30s... is not base64url without padding", backup.Value)
	}

	ok("delete_secret", do(http.MethodDelete, "/secrets/db-password", ""))
	ok("get_deleted_secret", do(http.MethodGet, "/deletedsecrets/db-password", ""))
	ok("deleted_page", do(http.MethodGet, "/deletedsecrets", ""))
	conflict := do(http.MethodPut, "/secrets/db-password", `{"value":"x"}`)
	conflict.wantError(t, "set on a deleted name", http.StatusConflict, "Conflict", "ObjectIsDeletedButRecoverable")
	e.golden(t, "error_deleted_conflict", conflict)
	gone := do(http.MethodGet, "/secrets/db-password", "")
	gone.wantError(t, "get of a deleted secret", http.StatusNotFound, "SecretNotFound", "")
	e.golden(t, "error_deleted_not_found", gone)
	ok("recover_secret", do(http.MethodPost, "/deletedsecrets/db-password/recover", ""))

	do(http.MethodDelete, "/secrets/api-key", "")
	purge := do(http.MethodDelete, "/deletedsecrets/api-key", "")
	if purge.status != http.StatusNoContent || len(purge.body) != 0 {
		t.Errorf("purge = %d %q, want 204 and no body", purge.status, purge.body)
	}
	ok("restore_secret", do(http.MethodPost, "/secrets/restore", `{"value":"`+backup.Value+`"}`))
	exists := do(http.MethodPost, "/secrets/restore", `{"value":"`+backup.Value+`"}`)
	exists.wantError(t, "restore over an existing secret", http.StatusConflict, "Conflict", "")
	e.golden(t, "error_restore_conflict", exists)

	// Refused reads of a version outside its window.
	do(http.MethodPut, "/secrets/off", `{"value":"v","attributes":{"enabled":false}}`)
	do(http.MethodPut, "/secrets/expired", `{"value":"v","attributes":{"exp":1772366399}}`)
	do(http.MethodPut, "/secrets/later", `{"value":"v","attributes":{"nbf":1772366401}}`)
	for _, tc := range []struct{ name, inner string }{{"off", "SecretDisabled"}, {"expired", "SecretExpired"}, {"later", "SecretNotYetValid"}} {
		a := do(http.MethodGet, "/secrets/"+tc.name, "")
		a.wantError(t, "get "+tc.name, http.StatusForbidden, "Forbidden", tc.inner)
		e.golden(t, "error_"+strings.ToLower(tc.inner), a)
	}

	// Purge under purge protection.
	if _, err := e.vault.UpdateSettings(t.Context(), e.admin.ID, "default", vault.SettingsUpdate{PurgeProtection: new(true)}); err != nil {
		t.Fatal(err)
	}
	do(http.MethodDelete, "/secrets/off", "")
	protected := do(http.MethodDelete, "/deletedsecrets/off", "")
	protected.wantError(t, "purge under purge protection", http.StatusForbidden, "Forbidden", "PurgeProtected")
	e.golden(t, "error_purge_protected", protected)
	if a := do(http.MethodPost, "/deletedsecrets/off/recover", ""); a.status != http.StatusOK {
		t.Errorf("recover after a refused purge = %d %s", a.status, a.body)
	}
}

// TestKVCanaryNotInLogs: a planted value never shows in an error body or in
// the server's log, whatever fails around it.
func TestKVCanaryNotInLogs(t *testing.T) {
	e := newKVEnv(t, fixedClock())
	tok := e.token(e.admin, e.resource())
	canary := "canary-" + uuid.NewString()
	user := e.principal("user", grant{"Key Vault Secrets User", "/hubs/default/vaults/default"})
	userTok := e.token(user, e.resource())
	set := `{"value":"` + canary + `"}`
	var bodies []string
	for _, r := range []struct{ method, path, token, body string }{
		{http.MethodPut, "/secrets/planted", tok, set},
		{http.MethodPut, "/secrets/planted", userTok, set},
		{http.MethodPut, "/secrets/bad_name", tok, set},
		{http.MethodPut, "/secrets/planted", tok, `{"value":"` + canary + strings.Repeat("x", vault.MaxValueBytes) + `"}`},
		{http.MethodPut, "/secrets/planted", tok, `{"value":"` + canary + `","tags":{"":"x"}}`},
		{http.MethodPut, "/secrets/planted", tok, `{"value":"` + canary + `",`},
		{http.MethodPatch, "/secrets/planted", tok, `{"attributes":{"enabled":false}}`},
		{http.MethodGet, "/secrets/planted", tok, ""},
		{http.MethodDelete, "/secrets/planted", tok, ""},
		{http.MethodPut, "/secrets/planted", tok, set},
		{http.MethodPost, "/secrets/restore", tok, `{"value":"` + canary + `"}`},
	} {
		if a := e.do(r.method, e.secretURL(r.path), r.token, r.body); a.status >= 400 {
			bodies = append(bodies, string(a.body))
		}
	}
	if len(bodies) < 8 {
		t.Fatalf("only %d requests failed; the test no longer drives the failures it names", len(bodies))
	}
	for i, b := range bodies {
		if strings.Contains(b, canary) {
			t.Errorf("error answer %d shows the planted value: %s", i, b)
		}
	}
	if !strings.Contains(e.logs.String(), "request refused") {
		t.Fatalf("the server logged no refusal; the log check proves nothing")
	}
	if strings.Contains(e.logs.String(), canary) {
		t.Errorf("the server's log shows the planted value")
	}
}
