package devmode

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/latchkey/latchkey/internal/seal"
)

// InfoFile is the name of the dev contract inside the data folder.
const InfoFile = "dev.json"

// MasterKeyFile is the name of the dev master key inside the data folder.
const MasterKeyFile = "master.key"

// Info is dev.json: what a tool needs to reach and trust a dev server. Fields are
// only ever added, never renamed: scripts depend on them.
type Info struct {
	URL           string `json:"url"`           // https://127.0.0.1:8443
	CACert        string `json:"caCert"`        // absolute path of the dev CA PEM
	TenantID      string `json:"tenantId"`      // the tenant GUID
	AuthorityHost string `json:"authorityHost"` // Entra authority host, with a trailing slash
	Admin         *Admin `json:"admin,omitempty"`
	VaultURL      string `json:"vaultUrl,omitempty"` // the default vault: https://default.vault.localhost:8443
}

// Admin is the dev server's administrator, a service principal whose secret
// dev.json keeps so that the CLI and tests need no flags. It is stable across
// restarts.
type Admin struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

// EnsureDir creates the data folder (mode 0700) if it does not exist and returns
// its absolute path.
func EnsureDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data folder %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create data folder %s: %w: choose another folder with --data", abs, err)
	}
	return abs, nil
}

// EnsureMasterKey returns the path of the dev master key in dir, generating a new
// random key (file mode 0600) when there is none. created reports a new key.
func EnsureMasterKey(dir string) (path string, created bool, err error) {
	path = filepath.Join(dir, MasterKeyFile)
	_, err = seal.LoadKeyFile(path)
	switch {
	case err == nil:
		return path, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, err
	}
	key, err := seal.NewKey()
	if err != nil {
		return "", false, fmt.Errorf("generate dev master key: %w", err)
	}
	if err := writeFileAtomic(path, []byte(key.Encode()+"\n"), 0o600); err != nil {
		return "", false, err
	}
	return path, true, nil
}

// WriteInfo writes dev.json into dir atomically (mode 0600: later fields carry
// credentials) and returns its path.
func WriteInfo(dir string, info Info) (string, error) {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", InfoFile, err)
	}
	path := filepath.Join(dir, InfoFile)
	return path, writeFileAtomic(path, append(b, '\n'), 0o600)
}

// ReadInfo reads dev.json from dir.
func ReadInfo(dir string) (Info, error) {
	path := filepath.Join(dir, InfoFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return Info{}, fmt.Errorf("read %s: %w: start a dev server with `latchkey dev` first", path, err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, fmt.Errorf("read %s: %w", path, err)
	}
	return info, nil
}

// writeFileAtomic writes data to a temporary file in path's folder, syncs it,
// renames it over path and syncs the folder, so readers see the old or the new
// file and never a partial one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: some file systems cannot sync a folder
		d.Close()
	}
	return nil
}
