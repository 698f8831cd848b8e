package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file is the Key Vault secrets data plane. Each vault is its own origin,
// https://{vault}.vault.{domain}[:port], chosen by the request's Host (the
// Azure SDKs parse ids as origin/secrets/{name}/{version} and check that the
// host ends with the challenge's resource host). Handlers authenticate with the
// vault audience; the vault service authorizes each operation with its data
// action before it looks anything up.

// maxKVBody bounds a Key Vault request body: a 25 KB value, JSON-escaped, and
// backup blobs of many versions.
const maxKVBody = 8 << 20

const vaultKey ctxKey = iota + 200

// vaultName returns the vault the request's host names.
func vaultName(ctx context.Context) string {
	v, _ := ctx.Value(vaultKey).(string)
	return v
}

// vaultOfHost returns the vault a Host header names under vault.{domain}, and
// the resource host for the bearer challenge (vault.{domain}[:port]).
func (s *Server) vaultOfHost(host string) (name, resourceHost string, ok bool) {
	if s.vaultDomain == "" {
		return "", "", false
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = host, ""
	}
	label, rest, found := strings.Cut(strings.ToLower(h), ".")
	if !found || label == "" || rest != "vault."+s.vaultDomain {
		return "", "", false
	}
	resourceHost = rest
	if port != "" {
		resourceHost += ":" + port
	}
	return label, resourceHost, true
}

// vaultAudiences are the token audiences the vault data plane accepts: its
// own resource, and Azure's, which clients may ask for by default.
func vaultAudiences(resourceHost string) []string {
	return []string{"https://" + resourceHost, "https://vault.azure.net"}
}

// authenticateVault checks the network allow-list, then the bearer token.
func (s *Server) authenticateVault(r *http.Request) (*http.Request, error) {
	name := vaultName(r.Context())
	if s.auditor != nil {
		noteAudit(r.Context()).scope = s.vault.Scope(r.Context(), name, r.PathValue("name"))
	}
	if err := s.vault.CheckNetwork(r.Context(), name, s.clientIP(r)); err != nil {
		return r, err
	}
	_, resourceHost, _ := s.vaultOfHost(r.Host)
	token := bearerToken(r)
	if token == "" {
		return r, errs.E(errs.Unauthenticated, "keyvault", "AKV10000: Request is missing a Bearer or PoP token.", nil)
	}
	c, err := s.identity.Verify(r.Context(), token, vaultAudiences(resourceHost)...)
	if err != nil {
		return r, err
	}
	return r.WithContext(context.WithValue(r.Context(), callerKey, c)), nil
}

// origin is the vault's URL as the client reached it.
func origin(r *http.Request) string { return "https://" + r.Host }

func checkAPIVersion(r *http.Request) error {
	if r.URL.Query().Get("api-version") == "" {
		return errs.E(errs.Invalid, "keyvault", "The request is missing the api-version query parameter: add ?api-version=7.5 or newer", nil)
	}
	return nil
}

// readKV decodes a Key Vault request body. Unlike the management API it
// ignores fields it does not know: SDKs send optional fields of newer
// api-versions.
func readKV(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxKVBody))
	if err != nil {
		return errs.E(errs.Invalid, "keyvault", "the request body is too large or unreadable", err)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return errs.E(errs.Invalid, "keyvault", "the request body is not the JSON this operation takes", nil)
	}
	return nil
}

func (s *Server) kvSet(w http.ResponseWriter, r *http.Request) error {
	var p kvSetParameters
	if err := readKV(w, r, &p); err != nil {
		return err
	}
	if p.Value == nil {
		return errs.Invalidf("keyvault", "value", "the request body must hold the secret's value")
	}
	sp := vault.SetParams{Value: vault.NewValue([]byte(*p.Value)), ContentType: p.ContentType, Tags: p.Tags}
	if a := p.Attributes; a != nil {
		sp.Enabled, sp.NotBefore, sp.Expires = a.Enabled, fromUnix(a.NotBefore), fromUnix(a.Expires)
	}
	b, err := s.vault.Set(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name"), sp)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, kvBundle(origin(r), b, true))
}

func (s *Server) kvGet(w http.ResponseWriter, r *http.Request) error {
	b, err := s.vault.Get(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, kvBundle(origin(r), b, true))
}

func (s *Server) kvUpdate(w http.ResponseWriter, r *http.Request) error {
	var p kvUpdateParameters
	if err := readKV(w, r, &p); err != nil {
		return err
	}
	up := vault.UpdateParams{ContentType: p.ContentType, Tags: p.Tags}
	if a := p.Attributes; a != nil {
		up.Enabled = a.Enabled
		if a.NotBefore != nil {
			t := fromUnix(a.NotBefore)
			up.NotBefore = &t
		}
		if a.Expires != nil {
			t := fromUnix(a.Expires)
			up.Expires = &t
		}
	}
	b, err := s.vault.Update(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name"), r.PathValue("version"), up)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, kvBundle(origin(r), b, true))
}

// kvPage reads maxresults (1 to 25, as Key Vault) and $skiptoken.
func kvPage(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{Limit: 25, After: q.Get("$skiptoken")}
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 25 {
			return p, errs.Invalidf("keyvault", "maxresults", "maxresults must be a whole number from 1 to 25")
		}
		p.Limit = n
	}
	return p, nil
}

// writeKVList writes a page with an absolute nextLink that carries the
// api-version, since the SDKs request nextLinks verbatim.
func writeKVList(w http.ResponseWriter, r *http.Request, items []kvSecretBundle, p store.Page, next string) error {
	out := kvList{Value: items}
	if out.Value == nil {
		out.Value = []kvSecretBundle{}
	}
	if next != "" {
		q := url.Values{}
		q.Set("api-version", r.URL.Query().Get("api-version"))
		q.Set("maxresults", strconv.Itoa(p.Limit))
		q.Set("$skiptoken", next)
		link := origin(r) + r.URL.EscapedPath() + "?" + q.Encode()
		out.NextLink = &link
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) kvList(w http.ResponseWriter, r *http.Request) error {
	p, err := kvPage(r)
	if err != nil {
		return err
	}
	bs, next, err := s.vault.List(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), p)
	if err != nil {
		return err
	}
	items := make([]kvSecretBundle, len(bs))
	for i, b := range bs {
		items[i] = kvBundle(origin(r), b, false)
	}
	return writeKVList(w, r, items, p, next)
}

func (s *Server) kvVersions(w http.ResponseWriter, r *http.Request) error {
	p, err := kvPage(r)
	if err != nil {
		return err
	}
	bs, next, err := s.vault.Versions(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name"), p)
	if err != nil {
		return err
	}
	items := make([]kvSecretBundle, len(bs))
	for i, b := range bs {
		items[i] = kvBundle(origin(r), b, true)
	}
	return writeKVList(w, r, items, p, next)
}

func (s *Server) kvDelete(w http.ResponseWriter, r *http.Request) error {
	d, err := s.vault.Delete(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, kvDeleted(origin(r), d, true))
}

func (s *Server) kvGetDeleted(w http.ResponseWriter, r *http.Request) error {
	d, err := s.vault.GetDeleted(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, kvDeleted(origin(r), d, true))
}

func (s *Server) kvListDeleted(w http.ResponseWriter, r *http.Request) error {
	p, err := kvPage(r)
	if err != nil {
		return err
	}
	ds, next, err := s.vault.ListDeleted(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), p)
	if err != nil {
		return err
	}
	items := make([]kvSecretBundle, len(ds))
	for i, d := range ds {
		items[i] = kvDeleted(origin(r), d, false)
	}
	return writeKVList(w, r, items, p, next)
}

func (s *Server) kvRecover(w http.ResponseWriter, r *http.Request) error {
	b, err := s.vault.Recover(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, kvBundle(origin(r), b, true))
}

func (s *Server) kvPurge(w http.ResponseWriter, r *http.Request) error {
	if err := s.vault.Purge(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) kvBackup(w http.ResponseWriter, r *http.Request) error {
	blob, err := s.vault.Backup(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, kvBackup{Value: blob})
}

func (s *Server) kvRestore(w http.ResponseWriter, r *http.Request) error {
	var p kvBackup
	if err := readKV(w, r, &p); err != nil {
		return err
	}
	b, err := s.vault.Restore(r.Context(), caller(r.Context()).ObjectID, vaultName(r.Context()), p.Value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, kvBundle(origin(r), b, true))
}

// vaultRoutes is the table of the Key Vault data plane. The vault service
// authorizes each with its data action, on the secret's scope.
func (s *Server) vaultRoutes() []route {
	kv := func(pattern, action string, h handlerFunc) route {
		return route{pattern: pattern, action: Action(action), handle: h, surface: surfaceVault, inHandler: true}
	}
	return []route{
		kv("GET /secrets", access.SecretsReadMetadata, s.kvList),
		kv("POST /secrets/restore", access.SecretsRestore, s.kvRestore),
		kv("PUT /secrets/{name}", access.SecretsSet, s.kvSet),
		kv("GET /secrets/{name}", access.SecretsGet, s.kvGet),
		kv("GET /secrets/{name}/{$}", access.SecretsGet, s.kvGet),
		kv("GET /secrets/{name}/{version}", access.SecretsGet, s.kvGet),
		kv("PATCH /secrets/{name}", access.SecretsUpdate, s.kvUpdate),
		kv("PATCH /secrets/{name}/{$}", access.SecretsUpdate, s.kvUpdate),
		kv("PATCH /secrets/{name}/{version}", access.SecretsUpdate, s.kvUpdate),
		kv("GET /secrets/{name}/versions", access.SecretsReadMetadata, s.kvVersions),
		kv("DELETE /secrets/{name}", access.SecretsDelete, s.kvDelete),
		kv("POST /secrets/{name}/backup", access.SecretsBackup, s.kvBackup),
		kv("GET /deletedsecrets", access.SecretsReadMetadata, s.kvListDeleted),
		kv("GET /deletedsecrets/{name}", access.SecretsReadMetadata, s.kvGetDeleted),
		kv("POST /deletedsecrets/{name}/recover", access.SecretsRecover, s.kvRecover),
		kv("DELETE /deletedsecrets/{name}", access.SecretsPurge, s.kvPurge),
		{pattern: "/", action: ActionPublic, handle: s.kvNotFound, surface: surfaceVault},
	}
}

func (s *Server) kvNotFound(w http.ResponseWriter, r *http.Request) error {
	return errs.E(errs.NotFound, "keyvault", "this vault serves /secrets and /deletedsecrets only", nil)
}
