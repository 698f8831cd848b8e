package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file is a vault's settings on the management API, and VaultClient, the
// Key Vault data plane each vault serves at https://{vault}.vault.{domain}.

// VaultSettings are a vault's own settings.
type VaultSettings struct {
	RetentionDays   int      `json:"retentionDays"`   // how long a deleted secret stays recoverable
	PurgeProtection bool     `json:"purgeProtection"` // once on, deleted secrets are purged only when due
	NetworkAllow    []string `json:"networkAllow"`    // client ranges (CIDR) that may reach the data plane; empty: all
}

// VaultUpdate changes some of a vault's settings; nil fields stay as they are.
// A pointer to an empty NetworkAllow clears the allow-list.
type VaultUpdate struct {
	RetentionDays   *int      `json:"retentionDays,omitempty"`
	PurgeProtection *bool     `json:"purgeProtection,omitempty"`
	NetworkAllow    *[]string `json:"networkAllow,omitempty"`
}

// VaultSettings returns the settings of the vault named name.
func (c *Client) VaultSettings(ctx context.Context, name string) (VaultSettings, error) {
	var out VaultSettings
	err := c.do(ctx, http.MethodGet, vaultsPath+"/"+seg(name)+"/settings", nil, &out, http.StatusOK)
	return out, err
}

// UpdateVault changes the settings of the vault named name and returns them.
// Purge protection cannot be turned off once on.
func (c *Client) UpdateVault(ctx context.Context, name string, u VaultUpdate) (VaultSettings, error) {
	var out VaultSettings
	err := c.do(ctx, http.MethodPatch, vaultsPath+"/"+seg(name), u, &out, http.StatusOK)
	return out, err
}

// VaultAPIVersion is the Key Vault REST api-version VaultClient speaks.
const VaultAPIVersion = "7.5"

// VaultResource returns the token audience of the vault at vaultURL: its
// origin without the vault's own label, https://vault.{domain}[:port]. A
// managed identity asks for this resource; VaultScope is the OAuth2 scope.
func VaultResource(vaultURL string) (string, error) {
	u, err := url.Parse(vaultURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("vault URL %q: want https://{vault}.vault.{domain}[:port]", vaultURL)
	}
	// The port stays as given: the vault matches the audience to the Host header.
	_, rest, ok := strings.Cut(u.Host, ".")
	if !ok || rest == "" || strings.HasPrefix(rest, ":") || net.ParseIP(u.Hostname()) != nil {
		return "", fmt.Errorf("vault URL %q: the host must be the vault's own name under the vault domain, as https://{vault}.vault.{domain}", vaultURL)
	}
	return "https://" + strings.ToLower(rest), nil
}

// VaultScope returns the OAuth2 scope of tokens for the vault at vaultURL:
// VaultResource + "/.default". Give it as ClientCredentials.Scope.
func VaultScope(vaultURL string) (string, error) {
	r, err := VaultResource(vaultURL)
	if err != nil {
		return "", err
	}
	return r + "/.default", nil
}

// UnixTime is a time that Key Vault's JSON carries as whole unix seconds.
type UnixTime struct{ time.Time }

// Unix returns t as a *UnixTime, nil for the zero time.
func Unix(t time.Time) *UnixTime {
	if t.IsZero() {
		return nil
	}
	return &UnixTime{t.UTC().Truncate(time.Second)}
}

// MarshalJSON writes whole unix seconds.
func (t UnixTime) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, t.Unix(), 10), nil }

// UnmarshalJSON reads unix seconds, whole or not.
func (t *UnixTime) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("a Key Vault time is a number of unix seconds, not %.40s", b)
	}
	t.Time = time.Unix(0, int64(f*1e9)).UTC()
	return nil
}

// SecretAttributes are a secret version's attributes. Created, Updated,
// RecoverableDays and RecoveryLevel are set by the vault.
type SecretAttributes struct {
	Enabled         *bool     `json:"enabled,omitempty"`
	NotBefore       *UnixTime `json:"nbf,omitempty"`
	Expires         *UnixTime `json:"exp,omitempty"`
	Created         *UnixTime `json:"created,omitempty"`
	Updated         *UnixTime `json:"updated,omitempty"`
	RecoverableDays *int      `json:"recoverableDays,omitempty"`
	RecoveryLevel   string    `json:"recoveryLevel,omitempty"`
}

// SecretBundle is a secret version (Key Vault's SecretBundle), or, in
// listings, a secret's item without Value. ID is
// {vaultURL}/secrets/{name}[/{version}]. It prints without its value.
type SecretBundle struct {
	ID          string            `json:"id"`
	Value       *string           `json:"value,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Attributes  SecretAttributes  `json:"attributes"`
}

func (b SecretBundle) String() string   { return "secret " + b.ID + " (value redacted)" }
func (b SecretBundle) GoString() string { return b.String() }

// Name is the secret's name, from ID.
func (b SecretBundle) Name() string { return b.idPart(1) }

// Version is the version ID names ("" for a listing's item).
func (b SecretBundle) Version() string { return b.idPart(2) }

// idPart returns part i of ID's path: secrets/{name}/{version}.
func (b SecretBundle) idPart(i int) string {
	u, err := url.Parse(b.ID)
	if err != nil {
		return ""
	}
	if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); i < len(parts) {
		return parts[i]
	}
	return ""
}

// DeletedSecret is a soft-deleted secret (Key Vault's DeletedSecretBundle).
type DeletedSecret struct {
	SecretBundle
	RecoveryID         string    `json:"recoveryId,omitempty"`
	DeletedDate        *UnixTime `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *UnixTime `json:"scheduledPurgeDate,omitempty"`
}

// SecretSetParameters are a new secret version (Key Vault's
// SecretSetParameters).
type SecretSetParameters struct {
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Attributes  *SecretAttributes `json:"attributes,omitempty"`
}

func (p SecretSetParameters) String() string   { return "secret parameters (value redacted)" }
func (p SecretSetParameters) GoString() string { return p.String() }

// SecretUpdateParameters change a version's attributes; nil fields stay as
// they are (Key Vault's SecretUpdateParameters).
type SecretUpdateParameters struct {
	ContentType *string            `json:"contentType,omitempty"`
	Tags        *map[string]string `json:"tags,omitempty"`
	Attributes  *SecretAttributes  `json:"attributes,omitempty"`
}

// VaultClient calls one vault's Key Vault secrets data plane. Failures are
// *Error with Key Vault's code; when the answer names an inner error, Code is
// "code/inner" (Forbidden/SecretDisabled). It is safe for concurrent use.
type VaultClient struct {
	base   string // https://{vault}.vault.{domain}[:port], no trailing slash
	hc     *http.Client
	tokens TokenSource
}

// NewVaultClient returns a client of the vault at vaultURL that sends requests
// through hc (nil: http.DefaultClient) with bearer tokens from tokens, which
// must be for the vault's audience (see VaultScope).
func NewVaultClient(vaultURL string, hc *http.Client, tokens TokenSource) *VaultClient {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &VaultClient{base: strings.TrimRight(vaultURL, "/"), hc: hc, tokens: tokens}
}

// URL is the vault's URL.
func (v *VaultClient) URL() string { return v.base }

func secretPath(name string) string { return "/secrets/" + seg(name) }

func versionPath(name, version string) string {
	if version == "" {
		return secretPath(name)
	}
	return secretPath(name) + "/" + seg(version)
}

// SetSecret stores a new version of a secret, which becomes its current one.
func (v *VaultClient) SetSecret(ctx context.Context, name string, p SecretSetParameters) (SecretBundle, error) {
	var out SecretBundle
	return out, v.do(ctx, http.MethodPut, v.url(secretPath(name)), p, &out)
}

// GetSecret returns a version of a secret with its value; version "" is the
// current one.
func (v *VaultClient) GetSecret(ctx context.Context, name, version string) (SecretBundle, error) {
	var out SecretBundle
	return out, v.do(ctx, http.MethodGet, v.url(versionPath(name, version)), nil, &out)
}

// UpdateSecret changes the attributes of a version ("" for the current one).
func (v *VaultClient) UpdateSecret(ctx context.Context, name, version string, p SecretUpdateParameters) (SecretBundle, error) {
	var out SecretBundle
	return out, v.do(ctx, http.MethodPatch, v.url(versionPath(name, version)), p, &out)
}

// ListSecrets lists the vault's secrets without values, following all pages.
func (v *VaultClient) ListSecrets(ctx context.Context) ([]SecretBundle, error) {
	return listVault[SecretBundle](ctx, v, "/secrets")
}

// ListVersions lists the versions of a secret without values, following all
// pages.
func (v *VaultClient) ListVersions(ctx context.Context, name string) ([]SecretBundle, error) {
	return listVault[SecretBundle](ctx, v, secretPath(name)+"/versions")
}

// DeleteSecret soft-deletes a secret with all its versions.
func (v *VaultClient) DeleteSecret(ctx context.Context, name string) (DeletedSecret, error) {
	var out DeletedSecret
	return out, v.do(ctx, http.MethodDelete, v.url(secretPath(name)), nil, &out)
}

// GetDeletedSecret returns a soft-deleted secret.
func (v *VaultClient) GetDeletedSecret(ctx context.Context, name string) (DeletedSecret, error) {
	var out DeletedSecret
	return out, v.do(ctx, http.MethodGet, v.url("/deletedsecrets/"+seg(name)), nil, &out)
}

// ListDeletedSecrets lists the vault's soft-deleted secrets, following all
// pages.
func (v *VaultClient) ListDeletedSecrets(ctx context.Context) ([]DeletedSecret, error) {
	return listVault[DeletedSecret](ctx, v, "/deletedsecrets")
}

// RecoverSecret restores a soft-deleted secret with all its versions.
func (v *VaultClient) RecoverSecret(ctx context.Context, name string) (SecretBundle, error) {
	var out SecretBundle
	return out, v.do(ctx, http.MethodPost, v.url("/deletedsecrets/"+seg(name)+"/recover"), nil, &out)
}

// PurgeSecret deletes a soft-deleted secret for good.
func (v *VaultClient) PurgeSecret(ctx context.Context, name string) error {
	return v.do(ctx, http.MethodDelete, v.url("/deletedsecrets/"+seg(name)), nil, nil)
}

// backupResult is BackupSecretResult and SecretRestoreParameters: base64url.
type backupResult struct {
	Value string `json:"value"`
}

// BackupSecret returns an opaque blob of every version of a secret, which
// RestoreSecret accepts in any vault of the same installation.
func (v *VaultClient) BackupSecret(ctx context.Context, name string) ([]byte, error) {
	var out backupResult
	if err := v.do(ctx, http.MethodPost, v.url(secretPath(name)+"/backup"), nil, &out); err != nil {
		return nil, err
	}
	blob, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(out.Value, "="))
	return blob, err
}

// RestoreSecret stores a secret from a BackupSecret blob, with all its
// versions, and returns its current version without value.
func (v *VaultClient) RestoreSecret(ctx context.Context, blob []byte) (SecretBundle, error) {
	var out SecretBundle
	in := backupResult{Value: base64.RawURLEncoding.EncodeToString(blob)}
	return out, v.do(ctx, http.MethodPost, v.url("/secrets/restore"), in, &out)
}

// url returns the absolute URL of path with the api-version.
func (v *VaultClient) url(path string) string {
	return v.base + path + "?api-version=" + VaultAPIVersion
}

// do sends a request and decodes a 2xx answer into out (nil: discard it).
func (v *VaultClient) do(ctx context.Context, method, u string, in, out any) error {
	return sendJSON(ctx, v.hc, v.tokens, method, u, in, out, func(resp *http.Response) error {
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return vaultError(resp)
		}
		return nil
	})
}

// vaultErrorBody is Key Vault's error document.
type vaultErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

// vaultError reads Key Vault's error document into an *Error; anything else
// (a proxy's page) as the management API's errors are read.
func vaultError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var eb vaultErrorBody
	if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return responseError(resp)
	}
	e := &Error{StatusCode: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, RequestID: resp.Header.Get("X-Request-Id")}
	if id := resp.Header.Get("x-ms-request-id"); id != "" {
		e.RequestID = id
	}
	if in := eb.Error.InnerError; in != nil && in.Code != "" {
		e.Code += "/" + in.Code
	}
	return e
}

// listVault follows a Key Vault listing's nextLinks and returns every item. A
// nextLink to another origin is refused: the token must not leave the vault.
func listVault[T any](ctx context.Context, v *VaultClient, path string) ([]T, error) {
	all := []T{}
	next := v.url(path)
	seen := map[string]bool{}
	for next != "" {
		if seen[next] {
			return nil, fmt.Errorf("GET %s: the vault's nextLink repeats a page", path)
		}
		seen[next] = true
		var page List[T]
		if err := v.do(ctx, http.MethodGet, next, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		next = page.NextLink
		if next == "" {
			break
		}
		if !strings.HasPrefix(strings.ToLower(next), strings.ToLower(v.base)+"/") {
			return nil, fmt.Errorf("GET %s: the vault's nextLink %q is not on %s", path, next, v.base)
		}
		if !strings.Contains(next, "api-version=") {
			sep := "?"
			if strings.Contains(next, "?") {
				sep = "&"
			}
			next += sep + "api-version=" + VaultAPIVersion
		}
	}
	return all, nil
}
