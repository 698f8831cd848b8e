package httpapi

import (
	"net/http"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file is the management API of a vault's own settings: soft-delete
// retention, purge protection and the data plane's network allow-list. The
// route authorizes at the vault's scope and the vault service checks again.

func settingsOf(st vault.Settings) client.VaultSettings {
	out := client.VaultSettings{RetentionDays: st.RetentionDays, PurgeProtection: st.PurgeProtection, NetworkAllow: st.NetworkAllow}
	if out.NetworkAllow == nil {
		out.NetworkAllow = []string{}
	}
	return out
}

// errNoVault answers the settings routes of a server without a vault service.
var errNoVault = errs.E(errs.Unavailable, "httpapi.vaultSettings", "this server serves no vaults: start it with a vault domain", nil)

func (s *Server) vaultSettings(w http.ResponseWriter, r *http.Request) error {
	if s.vault == nil {
		return errNoVault
	}
	st, err := s.vault.Settings(r.Context(), caller(r.Context()).ObjectID, r.PathValue("vault"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, settingsOf(st))
}

func (s *Server) updateVault(w http.ResponseWriter, r *http.Request) error {
	if s.vault == nil {
		return errNoVault
	}
	var u client.VaultUpdate
	if err := readJSON(w, r, &u); err != nil {
		return err
	}
	st, err := s.vault.UpdateSettings(r.Context(), caller(r.Context()).ObjectID, r.PathValue("vault"), vault.SettingsUpdate{
		RetentionDays: u.RetentionDays, PurgeProtection: u.PurgeProtection, NetworkAllow: u.NetworkAllow,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, settingsOf(st))
}
