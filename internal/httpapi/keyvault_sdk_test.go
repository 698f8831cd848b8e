package httpapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey/latchkey/internal/vault"
)

// These tests drive the data plane with the real azsecrets client over a
// ClientSecretCredential, against a host-based vault with challenge resource
// verification on: what an application does with configuration only (plus
// DisableInstanceDiscovery, see docs).

var versionPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// wantResponseError fails unless err is an *azcore.ResponseError with status
// and Key Vault error code.
func wantResponseError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s = %v, want an *azcore.ResponseError %d %s", what, err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("%s = %d %s, want %d %s", what, re.StatusCode, re.ErrorCode, status, code)
	}
}

// checkID fails unless id parses, as the SDK parses it, to name and version
// ("" for an id without version).
func checkID(t *testing.T, what string, id *azsecrets.ID, name, version string) {
	t.Helper()
	if id == nil {
		t.Fatalf("%s: no id", what)
	}
	if id.Name() != name || id.Version() != version {
		t.Errorf("%s: id %s parses to %q/%q, want %q/%q", what, *id, id.Name(), id.Version(), name, version)
	}
}

// TestSDKSecretsLifecycle runs every operation of azsecrets.Client against
// vault "default" and checks what the SDK makes of each answer.
func TestSDKSecretsLifecycle(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	ctx := t.Context()
	c := e.secretsClient(e.admin, "default")
	now := e.clock.Now()

	// SetSecret with content type, tags and attributes.
	nbf, exp := now.Add(-time.Hour), now.Add(24*time.Hour)
	set, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{
		Value: to.Ptr("hunter2"), ContentType: to.Ptr("text/plain"), Tags: map[string]*string{"env": to.Ptr("dev")},
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(true), NotBefore: &nbf, Expires: &exp},
	}, nil)
	if err != nil {
		t.Fatalf("SetSecret = %v", err)
	}
	v1 := set.ID.Version()
	checkID(t, "SetSecret", set.ID, "db-password", v1)
	if !versionPattern.MatchString(v1) {
		t.Errorf("SetSecret version %q is not 32 lower-case hex characters", v1)
	}
	if want := e.vaultURL("default") + "/secrets/db-password/" + v1; string(*set.ID) != want {
		t.Errorf("SetSecret id = %s, want %s", *set.ID, want)
	}
	a := set.Attributes
	if *set.Value != "hunter2" || *set.ContentType != "text/plain" || *set.Tags["env"] != "dev" || !*a.Enabled ||
		!a.NotBefore.Equal(nbf) || !a.Expires.Equal(exp) || !a.Created.Equal(now) || !a.Updated.Equal(now) ||
		*a.RecoverableDays != 90 || *a.RecoveryLevel != "Recoverable+Purgeable" {
		t.Errorf("SetSecret = %+v, attributes %+v", set.Secret, a)
	}
	set2, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("hunter3")}, nil)
	if err != nil {
		t.Fatalf("SetSecret (second version) = %v", err)
	}
	v2 := set2.ID.Version()
	if v2 == v1 || !versionPattern.MatchString(v2) {
		t.Errorf("second version %q (first %q)", v2, v1)
	}

	// GetSecret: the current version (version "", a trailing slash on the
	// wire) and a specific one.
	cur, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil {
		t.Fatalf("GetSecret(current) = %v", err)
	}
	checkID(t, "GetSecret(current)", cur.ID, "db-password", v2)
	if *cur.Value != "hunter3" {
		t.Errorf("GetSecret(current) = %q, want hunter3", *cur.Value)
	}
	old, err := c.GetSecret(ctx, "db-password", v1, nil)
	if err != nil {
		t.Fatalf("GetSecret(v1) = %v", err)
	}
	checkID(t, "GetSecret(v1)", old.ID, "db-password", v1)
	if *old.Value != "hunter2" || *old.ContentType != "text/plain" {
		t.Errorf("GetSecret(v1) = %q, %q", *old.Value, *old.ContentType)
	}

	// UpdateSecretProperties of a given version: no value comes back.
	up, err := c.UpdateSecretProperties(ctx, "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		ContentType: to.Ptr("text/old"), Tags: map[string]*string{"rotated": to.Ptr("yes")}}, nil)
	if err != nil {
		t.Fatalf("UpdateSecretProperties(v1) = %v", err)
	}
	checkID(t, "UpdateSecretProperties(v1)", up.ID, "db-password", v1)
	if up.Value != nil || *up.ContentType != "text/old" || *up.Tags["rotated"] != "yes" {
		t.Errorf("UpdateSecretProperties(v1) = %+v", up.Secret)
	}

	// Disabled, then expired: GetSecret is refused with 403 Forbidden.
	if _, err := c.UpdateSecretProperties(ctx, "db-password", "", azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}}, nil); err != nil {
		t.Fatalf("UpdateSecretProperties(enabled false) = %v", err)
	}
	_, err = c.GetSecret(ctx, "db-password", "", nil)
	wantResponseError(t, "GetSecret(disabled)", err, http.StatusForbidden, "Forbidden")
	past := now.Add(-time.Minute)
	upd, err := c.UpdateSecretProperties(ctx, "db-password", "", azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(true), Expires: &past}}, nil)
	if err != nil {
		t.Fatalf("UpdateSecretProperties(expired) = %v", err)
	}
	checkID(t, "UpdateSecretProperties(current)", upd.ID, "db-password", v2)
	_, err = c.GetSecret(ctx, "db-password", "", nil)
	wantResponseError(t, "GetSecret(expired)", err, http.StatusForbidden, "Forbidden")
	future := now.Add(time.Hour)
	if _, err := c.UpdateSecretProperties(ctx, "db-password", "", azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &future}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(ctx, "db-password", "", nil); err != nil {
		t.Fatalf("GetSecret after moving exp = %v", err)
	}

	// The versions pager: ids with versions.
	seen := map[string]bool{}
	for pager := c.NewListSecretPropertiesVersionsPager("db-password", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("versions pager = %v", err)
		}
		for _, p := range page.Value {
			if p.ID.Name() != "db-password" {
				t.Errorf("versions pager id %s: name %q", *p.ID, p.ID.Name())
			}
			seen[p.ID.Version()] = true
		}
	}
	if len(seen) != 2 || !seen[v1] || !seen[v2] {
		t.Errorf("versions pager saw %v, want %s and %s", seen, v1, v2)
	}

	// Delete, inspect, list and recover.
	del, err := c.DeleteSecret(ctx, "db-password", nil)
	if err != nil {
		t.Fatalf("DeleteSecret = %v", err)
	}
	checkID(t, "DeleteSecret", del.ID, "db-password", v2)
	wantRecovery := e.vaultURL("default") + "/deletedsecrets/db-password"
	if del.Value != nil || *del.RecoveryID != wantRecovery || !del.DeletedDate.Equal(now) ||
		!del.ScheduledPurgeDate.Equal(now.Add(90*24*time.Hour)) {
		t.Errorf("DeleteSecret = %+v", del.DeletedSecret)
	}
	_, err = c.GetSecret(ctx, "db-password", "", nil)
	wantResponseError(t, "GetSecret(deleted)", err, http.StatusNotFound, "SecretNotFound")
	_, err = c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	wantResponseError(t, "SetSecret(deleted)", err, http.StatusConflict, "Conflict")
	gd, err := c.GetDeletedSecret(ctx, "db-password", nil)
	if err != nil {
		t.Fatalf("GetDeletedSecret = %v", err)
	}
	checkID(t, "GetDeletedSecret", gd.ID, "db-password", v2)
	if *gd.RecoveryID != wantRecovery || !gd.ScheduledPurgeDate.Equal(*del.ScheduledPurgeDate) {
		t.Errorf("GetDeletedSecret = %+v", gd.DeletedSecret)
	}
	found := false
	for pager := c.NewListDeletedSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("deleted pager = %v", err)
		}
		for _, p := range page.Value {
			if p.ID.Name() == "db-password" && *p.RecoveryID == wantRecovery {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the deleted pager does not list db-password")
	}
	rec, err := c.RecoverDeletedSecret(ctx, "db-password", nil)
	if err != nil {
		t.Fatalf("RecoverDeletedSecret = %v", err)
	}
	checkID(t, "RecoverDeletedSecret", rec.ID, "db-password", v2)
	if got, err := c.GetSecret(ctx, "db-password", "", nil); err != nil || *got.Value != "hunter3" {
		t.Fatalf("GetSecret after recovery = %v", err)
	}

	// Delete and purge: 204, then the deleted secret is gone too.
	if _, err := c.DeleteSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatalf("PurgeDeletedSecret = %v", err)
	}
	_, err = c.GetDeletedSecret(ctx, "db-password", nil)
	wantResponseError(t, "GetDeletedSecret(purged)", err, http.StatusNotFound, "SecretNotFound")

	// Backup, delete and purge, restore: the value and versions come back.
	b1, err := c.SetSecret(ctx, "api-key", azsecrets.SetSecretParameters{Value: to.Ptr("k-1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := c.SetSecret(ctx, "api-key", azsecrets.SetSecretParameters{Value: to.Ptr("k-2")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	backup, err := c.BackupSecret(ctx, "api-key", nil)
	if err != nil || len(backup.Value) == 0 {
		t.Fatalf("BackupSecret = %d bytes, %v", len(backup.Value), err)
	}
	if _, err := c.DeleteSecret(ctx, "api-key", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil)
	wantResponseError(t, "RestoreSecret(name deleted)", err, http.StatusConflict, "Conflict")
	if _, err := c.PurgeDeletedSecret(ctx, "api-key", nil); err != nil {
		t.Fatal(err)
	}
	restored, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil)
	if err != nil {
		t.Fatalf("RestoreSecret = %v", err)
	}
	checkID(t, "RestoreSecret", restored.ID, "api-key", b2.ID.Version())
	for version, want := range map[string]string{"": "k-2", b1.ID.Version(): "k-1", b2.ID.Version(): "k-2"} {
		got, err := c.GetSecret(ctx, "api-key", version, nil)
		if err != nil || *got.Value != want {
			t.Errorf("GetSecret(api-key, %q) after restore = %v, want %s", version, err, want)
		}
	}
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil)
	wantResponseError(t, "RestoreSecret(name exists)", err, http.StatusConflict, "Conflict")
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: []byte("not a backup")}, nil)
	wantResponseError(t, "RestoreSecret(garbage)", err, http.StatusBadRequest, "BadParameter")

	// One challenge for the client's lifetime: a single 401 on the wire.
	challenges := 0
	for _, x := range e.wire.exchanges() {
		if x.status == http.StatusUnauthorized {
			challenges++
		}
	}
	if challenges != 1 {
		t.Errorf("the client was challenged %d times, want once", challenges)
	}
}

// TestSDKPurgeProtection: under purge protection PurgeDeletedSecret is 403
// and the secret stays recoverable.
func TestSDKPurgeProtection(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	ctx := t.Context()
	if _, err := e.vault.UpdateSettings(ctx, e.admin.ID, "default", vault.SettingsUpdate{PurgeProtection: to.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	c := e.secretsClient(e.admin, "default")
	set, err := c.SetSecret(ctx, "protected", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *set.Attributes.RecoveryLevel != "Recoverable" {
		t.Errorf("recoveryLevel = %s, want Recoverable", *set.Attributes.RecoveryLevel)
	}
	if _, err := c.DeleteSecret(ctx, "protected", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.PurgeDeletedSecret(ctx, "protected", nil)
	wantResponseError(t, "PurgeDeletedSecret under purge protection", err, http.StatusForbidden, "Forbidden")
	if _, err := c.GetDeletedSecret(ctx, "protected", nil); err != nil {
		t.Fatalf("GetDeletedSecret after a refused purge = %v", err)
	}
	rec, err := c.RecoverDeletedSecret(ctx, "protected", nil)
	if err != nil {
		t.Fatalf("RecoverDeletedSecret = %v", err)
	}
	checkID(t, "RecoverDeletedSecret", rec.ID, "protected", set.ID.Version())
	if got, err := c.GetSecret(ctx, "protected", "", nil); err != nil || *got.Value != "v" {
		t.Errorf("GetSecret after recovery = %v", err)
	}
}

// TestSDKListPaging: 150 secrets come back once each over several pages, the
// SDK following each nextLink verbatim, with ids that parse to their names.
func TestSDKListPaging(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	ctx := t.Context()
	c := e.secretsClient(e.admin, "default")
	const n = 150
	want := map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("secret-%03d", i)
		want[name] = true
		if _, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
			t.Fatalf("SetSecret(%s) = %v", name, err)
		}
	}
	seen := map[string]int{}
	pages := 0
	var nextLinks []string
	for pager := c.NewListSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		if len(page.Value) > 25 {
			t.Errorf("page %d holds %d items, more than 25", pages, len(page.Value))
		}
		for _, p := range page.Value {
			if p.ID.Version() != "" {
				t.Errorf("list item %s carries a version", *p.ID)
			}
			seen[p.ID.Name()]++
		}
		if page.NextLink != nil && *page.NextLink != "" {
			nextLinks = append(nextLinks, *page.NextLink)
		}
	}
	for name := range want {
		if seen[name] != 1 {
			t.Errorf("%s seen %d times, want once", name, seen[name])
		}
	}
	if len(seen) != n {
		t.Errorf("saw %d names, want %d", len(seen), n)
	}
	if pages < n/25 {
		t.Errorf("%d pages, want at least %d", pages, n/25)
	}
	// The SDK requested every nextLink exactly as given.
	requested := map[string]bool{}
	for _, x := range e.wire.exchanges() {
		requested[x.url] = true
	}
	for _, link := range nextLinks {
		if !strings.HasPrefix(link, e.vaultURL("default")+"/secrets?") || !strings.Contains(link, "api-version=") {
			t.Errorf("nextLink %s is not absolute or has no api-version", link)
		}
		if !requested[link] {
			t.Errorf("nextLink %s was not requested verbatim", link)
		}
	}
}
